"""Where each field of an incoming record goes: the spec seen from the ingest side.

A prediction record names features under `features`, the model's output under `prediction`
and `score`, and segment values under `segments`; a flat table (Parquet, Arrow, CSV) names
every column by its spec name. The layout maps both shapes onto the stored columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.errors import SpecError
from vigil.spec import ATTRIBUTION_COLUMN, Kind, Spec
from vigil.store.base import Storage

STORAGE: dict[Kind, Storage] = {
    "numeric": "DOUBLE",
    "categorical": "VARCHAR",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMP",
}


@dataclass(frozen=True, slots=True)
class Layout:
    """The stored columns of a model version, grouped by where records carry them."""

    features: dict[str, Storage]
    prediction: tuple[str, Storage] | None
    scores: dict[str | None, str]  # class (None for the one score of a binary model) -> column
    segments: dict[str, Storage]
    target: tuple[str, Storage] | None
    id_column: str | None  # spec column filled from the record's `id`
    timestamp_column: str | None  # spec column filled from the record's `timestamp`
    # feature -> the column keeping its attributions (`__attr__<feature>`), when the spec
    # says `attribution.receive`; empty otherwise
    attributions: dict[str, str] = field(default_factory=dict)

    def stored(self) -> list[tuple[str, str, Storage]]:
        """(name, role, storage) of every column the prediction table keeps."""
        out: list[tuple[str, str, Storage]] = [(n, "feature", s) for n, s in self.features.items()]
        if self.prediction is not None:
            out.append((self.prediction[0], "prediction", self.prediction[1]))
        out += [(name, "score", "DOUBLE") for name in self.scores.values()]
        out += [(n, "segment", s) for n, s in self.segments.items()]
        out += [(column, "attribution", "DOUBLE") for column in self.attributions.values()]
        return out


def layout_for(spec: Spec) -> Layout:
    """The layout of a spec; refuses names the service keeps for itself."""
    for col in spec.columns:
        if col.name.startswith("__"):
            raise SpecError(
                f"column {col.name!r}: names starting with '__' are kept for vigil's own "
                f"fields; rename the column."
            )
        if "\x00" in col.name:
            raise SpecError(f"column {col.name!r}: a NUL character cannot be part of a name.")
    prediction = spec.single("prediction")
    target = spec.single("target")
    id_col = spec.single("id")
    ts_col = spec.single("timestamp")
    scores = {c.score_class: c.name for c in spec.with_role("score")}
    return Layout(
        features={c.name: STORAGE[c.kind] for c in spec.with_role("feature")},
        prediction=None if prediction is None else (prediction.name, STORAGE[prediction.kind]),
        scores=scores,
        segments={c.name: STORAGE[c.kind] for c in spec.with_role("segment")},
        target=None if target is None else (target.name, STORAGE[target.kind]),
        id_column=None if id_col is None else id_col.name,
        timestamp_column=None if ts_col is None else ts_col.name,
        attributions=(
            {c.name: ATTRIBUTION_COLUMN + c.name for c in spec.with_role("feature")}
            if spec.attribution.receive
            else {}
        ),
    )
