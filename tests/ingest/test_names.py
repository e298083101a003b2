"""Names: `__` names are vigil's own (the window tables use `__id`, `__ts`, ...), so an extra
feature or column named so is rejected by both paths; a table may carry its ids under the spec's
id column; ISO times with `Z` parse on every Python vigil supports."""

from __future__ import annotations

import pyarrow as pa

from vigil.ingest.layout import layout_for
from vigil.ingest.tables import validate_prediction_table
from vigil.ingest.validate import iso_time
from vigil.spec import spec_from_dict

from .layouts import BINARY, EPOCH, RULES, VERSIONS, checked, good, good_row


def test_reserved_extra_names_are_rejected_in_records_and_tables() -> None:
    out = checked([good(0), {**good(1), "features": {**good(1)["features"], "__id": "x"}}])
    assert [r.index for r in out.rejected] == [1]
    assert "names starting with '__' are kept for vigil" in out.rejected[0].errors[0]
    assert "__id" not in out.table.column_names
    table = pa.Table.from_pylist([good_row(0) | {"__ts": "x"}, good_row(1) | {"__ts": None}])
    flat = validate_prediction_table(table, BINARY, VERSIONS, VERSIONS[0], RULES)
    assert [r.index for r in flat.rejected] == [0]
    assert "__ts" not in flat.table.column_names and flat.table.num_rows == 1


def test_iso_times_with_z_parse_alike_on_every_python() -> None:
    assert iso_time("2026-11-23T10:00:00Z") == iso_time("2026-11-23T10:00:00+00:00")


def test_a_table_may_name_its_ids_by_the_spec_id_column() -> None:
    layout = layout_for(
        spec_from_dict(
            {
                "version": 1,
                "columns": {"x": {"role": "feature", "kind": "numeric"}, "request": {"role": "id"}},
            }
        )
    )
    table = pa.table(
        {
            "request": ["r1", "r2"],
            "timestamp": [(RULES.now - EPOCH).total_seconds()] * 2,
            "x": [1.0, 2.0],
        }
    )
    out = validate_prediction_table(table, layout, VERSIONS, VERSIONS[0], RULES)
    assert out.rejected == [] and out.table.column("id").to_pylist() == ["r1", "r2"]
