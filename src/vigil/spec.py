"""What each column is and how it is judged: roles, kinds, drift methods and thresholds.

A spec is written in YAML (see docs/spec.md) or inferred from a reference set
(`infer_spec`, the rules are in docs/spec.md too). Thresholds live here, never in the
statistics kernels: a kernel measures, the spec decides what counts as drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from vigil.errors import SpecError

Role = Literal["feature", "target", "prediction", "score", "id", "timestamp", "segment"]
Kind = Literal["numeric", "categorical", "boolean", "datetime", "text"]
Task = Literal["binary", "multiclass", "regression"]
Status = Literal["ok", "warning", "critical"]
Correction = Literal["bh", "none"]

ROLES: tuple[str, ...] = get_args(Role)
KINDS: tuple[str, ...] = get_args(Kind)
SPEC_VERSION = 1

# Kinds measured on numbers (datetime as epoch seconds, text as its length in characters)
# and kinds measured on category counts.
NUMERIC_KINDS = frozenset({"numeric", "datetime", "text"})
CATEGORY_KINDS = frozenset({"categorical", "boolean"})


@dataclass(frozen=True, slots=True)
class DriftMethod:
    """A measure that can decide a column's drift verdict."""

    name: str
    kinds: frozenset[str]  # column kinds it applies to
    decides_by: Literal["statistic", "p_value"]  # statistic >= threshold, or p-value < threshold
    warning: float | None  # default threshold; None: the spec must give one (scale-dependent)
    critical: float | None
    bounded: bool  # the statistic lies in [0, 1]
    description: str


_ANY = NUMERIC_KINDS | CATEGORY_KINDS
DRIFT_METHODS: dict[str, DriftMethod] = {
    "ks": DriftMethod(
        "ks",
        NUMERIC_KINDS,
        "statistic",
        0.1,
        0.2,
        True,
        "Kolmogorov–Smirnov statistic: largest gap between the two CDFs",
    ),
    "wasserstein_norm": DriftMethod(
        "wasserstein_norm",
        NUMERIC_KINDS,
        "statistic",
        0.1,
        0.2,
        False,
        "Wasserstein distance / reference standard deviation",
    ),
    "wasserstein": DriftMethod(
        "wasserstein",
        NUMERIC_KINDS,
        "statistic",
        None,
        None,
        False,
        "Wasserstein (earth mover's) distance, in the column's units",
    ),
    "energy": DriftMethod(
        "energy",
        NUMERIC_KINDS,
        "statistic",
        None,
        None,
        False,
        "energy distance, in the column's units",
    ),
    "anderson": DriftMethod(
        "anderson",
        NUMERIC_KINDS,
        "p_value",
        0.05,
        0.001,
        True,
        "Anderson–Darling k-sample test p-value (capped to [0.001, 0.25])",
    ),
    "cvm": DriftMethod(
        "cvm",
        NUMERIC_KINDS,
        "p_value",
        0.05,
        0.001,
        True,
        "Cramér–von Mises two-sample test p-value",
    ),
    "psi": DriftMethod(
        "psi",
        _ANY,
        "statistic",
        0.1,
        0.25,
        False,
        "population stability index on reference deciles or categories",
    ),
    "js": DriftMethod("js", _ANY, "statistic", 0.1, 0.2, True, "Jensen–Shannon distance, base 2"),
    "hellinger": DriftMethod("hellinger", _ANY, "statistic", 0.1, 0.2, True, "Hellinger distance"),
    "kl": DriftMethod(
        "kl",
        _ANY,
        "statistic",
        0.1,
        0.25,
        False,
        "Kullback–Leibler divergence KL(current ‖ reference), nats",
    ),
    "chi2": DriftMethod(
        "chi2",
        CATEGORY_KINDS,
        "p_value",
        0.05,
        0.001,
        True,
        "chi-square test of the 2×K contingency table, p-value",
    ),
    "z": DriftMethod(
        "z", frozenset({"boolean"}), "p_value", 0.05, 0.001, True, "two-proportion z-test p-value"
    ),
}

# Measures that are computed on request only (slower, or need a scale-dependent threshold).
EXTRA_METRICS = ("anderson", "cvm", "energy")


def drift_method(column: str, name: str) -> DriftMethod:
    """The registry entry for `name`, or a SpecError naming the column and the choices."""
    if name not in DRIFT_METHODS:
        raise SpecError(
            f"column {column!r}: unknown drift method {name!r}; "
            f"use one of {', '.join(sorted(DRIFT_METHODS))}."
        )
    return DRIFT_METHODS[name]


def default_method(kind: Kind) -> str:
    """The automatic method for a kind (the table and the reasons are in docs/statistics.md)."""
    return "ks" if kind in NUMERIC_KINDS else "js"


def default_test(kind: Kind) -> str:
    """The significance test paired with a statistic method for a column of this kind."""
    if kind in NUMERIC_KINDS:
        return "ks"
    return "z" if kind == "boolean" else "chi2"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A warning and a critical level for one check."""

    warning: float
    critical: float


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column: its role, its kind, and any override of how its drift is judged."""

    name: str
    role: Role = "feature"
    kind: Kind = "numeric"
    method: str | None = None  # None: the automatic choice for the kind
    threshold: float | None = None  # None: the method's default
    critical: float | None = None
    bounds: tuple[float | None, float | None] | None = None  # valid range; None: reference min/max
    score_class: str | None = None  # multiclass score column: the class it is the probability of

    @property
    def effective_method(self) -> str:
        """The drift method that decides this column."""
        return self.method or default_method(self.kind)

    def thresholds(self) -> Threshold:
        """Warning and critical thresholds of the effective method, overrides applied."""
        method = drift_method(self.name, self.effective_method)
        warning = self.threshold if self.threshold is not None else method.warning
        if warning is None:
            raise SpecError(
                f"column {self.name!r}: method {method.name!r} is measured in the "
                f"column's own units, so it needs a threshold; add "
                f"`threshold: <value>` under the column in the spec."
            )
        by_p = method.decides_by == "p_value"
        critical = self.critical
        if critical is None:
            if self.threshold is None and method.critical is not None:
                critical = method.critical
            else:  # an overridden warning level moves the critical one with it
                critical = warning / 50 if by_p else 2 * warning
        if (critical > warning) if by_p else (critical < warning):
            side = "below" if by_p else "above"
            raise SpecError(
                f"column {self.name!r}: the critical threshold {critical} must be at "
                f"or {side} the warning threshold {warning} for {method.name!r}."
            )
        return Threshold(warning, critical)


@dataclass(frozen=True, slots=True)
class DriftOptions:
    """How column verdicts and the dataset verdict are reached."""

    alpha: float | None = 0.05  # significance level; None: effect size alone decides
    correction: Correction = "bh"  # multiple-testing correction across the drift-checked columns
    dataset_share: float = 0.5  # the dataset drifts when this share of features drifts
    n_bins: int = 10  # reference quantile bins for the histogram measures
    extra_metrics: tuple[str, ...] = ()  # also compute these, e.g. ("anderson", "cvm", "energy")


@dataclass(frozen=True, slots=True)
class QualityOptions:
    """Thresholds of the data-quality checks (shares of current rows)."""

    missing_increase: Threshold = Threshold(0.05, 0.2)  # current missing share minus reference's
    out_of_range: Threshold = Threshold(0.01, 0.05)
    unseen_share: Threshold = Threshold(0.01, 0.05)
    outlier_increase: Threshold = Threshold(0.05, 0.2)  # current outlier share minus reference's
    duplicate_rows: Threshold = Threshold(0.01, 0.05)
    type_mismatch: Threshold = Threshold(0.0001, 0.01)


@dataclass(frozen=True, slots=True)
class PerformanceOptions:
    """A metric falling by this fraction of its reference value raises a check."""

    warning_drop: float = 0.05
    critical_drop: float = 0.10


@dataclass(frozen=True, slots=True)
class Spec:
    """The columns of a model's data and the rules that judge them."""

    columns: tuple[ColumnSpec, ...]
    task: Task | None = None
    drift: DriftOptions = field(default_factory=DriftOptions)
    quality: QualityOptions = field(default_factory=QualityOptions)
    performance: PerformanceOptions = field(default_factory=PerformanceOptions)

    def __post_init__(self) -> None:
        _check_spec(self)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in spec order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        """The column called `name`, or a SpecError listing the columns there are."""
        for col in self.columns:
            if col.name == name:
                return col
        raise SpecError(f"the spec has no column {name!r}; it has {', '.join(self.names)}.")

    def with_role(self, role: Role) -> tuple[ColumnSpec, ...]:
        """The columns with this role, in spec order."""
        return tuple(c for c in self.columns if c.role == role)

    def single(self, role: Role) -> ColumnSpec | None:
        """The one column with this role (target, prediction, id, timestamp), or None."""
        found = self.with_role(role)
        return found[0] if found else None

    @property
    def drift_columns(self) -> tuple[ColumnSpec, ...]:
        """Columns whose drift is measured: features, predictions, scores and the target."""
        return tuple(
            c for c in self.columns if c.role in ("feature", "prediction", "score", "target")
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, in the shape of the YAML file."""
        columns: dict[str, Any] = {}
        for c in self.columns:
            entry: dict[str, Any] = {"role": c.role, "kind": c.kind}
            if c.method is not None or c.threshold is not None or c.critical is not None:
                drift: dict[str, Any] = {}
                if c.method is not None:
                    drift["method"] = c.method
                if c.threshold is not None:
                    drift["threshold"] = c.threshold
                if c.critical is not None:
                    drift["critical"] = c.critical
                entry["drift"] = drift
            if c.bounds is not None:
                entry["bounds"] = list(c.bounds)
            if c.score_class is not None:
                entry["class"] = c.score_class
            columns[c.name] = entry
        q = self.quality
        return {
            "version": SPEC_VERSION,
            "task": self.task,
            "columns": columns,
            "drift": {
                "alpha": self.drift.alpha,
                "correction": self.drift.correction,
                "dataset_share": self.drift.dataset_share,
                "bins": self.drift.n_bins,
                "extra_metrics": list(self.drift.extra_metrics),
            },
            "quality": {
                name: [getattr(q, name).warning, getattr(q, name).critical]
                for name in QualityOptions.__dataclass_fields__
            },
            "performance": {
                "warning_drop": self.performance.warning_drop,
                "critical_drop": self.performance.critical_drop,
            },
        }


def _check_spec(spec: Spec) -> None:
    seen: set[str] = set()
    for col in spec.columns:
        if col.name in seen:
            raise SpecError(f"column {col.name!r} appears twice in the spec; keep one entry.")
        seen.add(col.name)
        if col.role not in ROLES:
            raise SpecError(
                f"column {col.name!r}: unknown role {col.role!r}; use one of {', '.join(ROLES)}."
            )
        if col.kind not in KINDS:
            raise SpecError(
                f"column {col.name!r}: unknown kind {col.kind!r}; use one of {', '.join(KINDS)}."
            )
        method = drift_method(col.name, col.effective_method)
        if col.kind not in method.kinds:
            fitting = sorted(n for n, m in DRIFT_METHODS.items() if col.kind in m.kinds)
            raise SpecError(
                f"column {col.name!r} is {col.kind}; drift method {method.name!r} "
                f"does not apply to it. Use one of {', '.join(fitting)}."
            )
        for label, value in (("threshold", col.threshold), ("critical", col.critical)):
            if value is not None and not value > 0:
                raise SpecError(
                    f"column {col.name!r}: drift {label} must be a positive number; got {value!r}."
                )
            if value is not None and method.decides_by == "p_value" and value >= 1:
                raise SpecError(
                    f"column {col.name!r}: {method.name!r} decides by p-value, so its "
                    f"{label} must be below 1; got {value!r}."
                )
        col.thresholds()  # a scale-dependent method without a threshold fails here, by name
        if col.bounds is not None:
            low, high = col.bounds
            if low is not None and high is not None and low > high:
                raise SpecError(
                    f"column {col.name!r}: bounds [{low}, {high}] are reversed; "
                    f"write them as [low, high]."
                )
    for role in ("target", "prediction", "id", "timestamp"):
        found = [c.name for c in spec.columns if c.role == role]
        if len(found) > 1:
            raise SpecError(
                f"the spec gives the role {role!r} to {', '.join(found)}; "
                f"a spec has at most one {role} column."
            )
    if spec.task == "multiclass":
        scores = spec.with_role("score")
        unnamed = [c.name for c in scores if c.score_class is None]
        if len(scores) > 1 and unnamed:
            raise SpecError(
                f"multiclass score columns {', '.join(unnamed)} need `class:` "
                f"naming the class each is the probability of."
            )
    elif spec.task in ("binary", "regression") and len(spec.with_role("score")) > 1:
        names = ", ".join(c.name for c in spec.with_role("score"))
        raise SpecError(
            f"a {spec.task} model has one score column; the spec has {names}. "
            f"Set `task: multiclass` or keep one score column."
        )
    d = spec.drift
    if d.alpha is not None and not 0 < d.alpha < 1:
        raise SpecError(f"drift.alpha must be between 0 and 1 (or null); got {d.alpha!r}.")
    if not 0 < d.dataset_share <= 1:
        raise SpecError(f"drift.dataset_share must be in (0, 1]; got {d.dataset_share!r}.")
    if d.n_bins < 2:
        raise SpecError(f"drift.bins must be at least 2; got {d.n_bins!r}.")
    for name in d.extra_metrics:
        if name not in EXTRA_METRICS:
            raise SpecError(
                f"drift.extra_metrics: unknown measure {name!r}; "
                f"use any of {', '.join(EXTRA_METRICS)}."
            )


# --- YAML ---------------------------------------------------------------------------------
# The file is validated by pydantic models in vigil.spec_schema, imported only when a spec is
# read (pydantic costs a noticeable share of a short run's start-up).


def spec_from_dict(data: Mapping[str, Any], *, source: str = "spec") -> Spec:
    """Build a Spec from plain data in the YAML shape (docs/spec.md)."""
    from vigil.spec_schema import DriftOverride, SpecFile, parse

    parsed: SpecFile = parse(data, source)
    if parsed.version != SPEC_VERSION:
        raise SpecError(
            f"{source}: spec version {parsed.version} is not supported; this vigil "
            f"reads version {SPEC_VERSION}."
        )
    columns = []
    for name, c in parsed.columns.items():
        kind: Kind = c.kind or _default_kind_for_role(c.role, parsed.task)
        o = c.drift or DriftOverride()
        columns.append(
            ColumnSpec(
                name=name,
                role=c.role,
                kind=kind,
                method=o.method,
                threshold=o.threshold,
                critical=o.critical,
                bounds=c.bounds,
                score_class=None if c.class_ is None else str(c.class_),
            )
        )
    defaults = QualityOptions()
    quality_kwargs: dict[str, Threshold] = {}
    for key, (warning, critical) in parsed.quality.items():
        if key not in QualityOptions.__dataclass_fields__:
            raise SpecError(
                f"{source}: unknown quality check {key!r}; use one of "
                f"{', '.join(sorted(QualityOptions.__dataclass_fields__))}."
            )
        if not 0 <= warning <= critical:
            raise SpecError(
                f"{source}: quality.{key} must be [warning, critical] with "
                f"0 <= warning <= critical; got [{warning}, {critical}]."
            )
        quality_kwargs[key] = Threshold(warning, critical)
    p = parsed.performance
    if not 0 < p.warning_drop <= p.critical_drop:
        raise SpecError(
            f"{source}: performance needs 0 < warning_drop <= critical_drop; got "
            f"{p.warning_drop} and {p.critical_drop}."
        )
    d = parsed.drift
    return Spec(
        columns=tuple(columns),
        task=parsed.task,
        drift=DriftOptions(
            alpha=d.alpha,
            correction=d.correction,
            dataset_share=d.dataset_share,
            n_bins=d.bins,
            extra_metrics=tuple(d.extra_metrics),
        ),
        quality=replace(defaults, **quality_kwargs),
        performance=PerformanceOptions(p.warning_drop, p.critical_drop),
    )


def _default_kind_for_role(role: Role, task: Task | None) -> Kind:
    if role in ("target", "prediction"):
        return "numeric" if task == "regression" else "categorical"
    if role in ("id", "segment"):
        return "categorical"
    if role == "timestamp":
        return "datetime"
    return "numeric"


def load_spec(path: str | Path) -> Spec:
    """Read a YAML spec file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"spec file {str(p)!r} does not exist; write one with `vigil init`."
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read spec file {str(p)!r}: {err}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{p}: not valid YAML — {err}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{p}: a spec is a YAML mapping with at least `columns:`; got {type(data).__name__}."
        )
    return spec_from_dict(data, source=str(p))


def dump_spec(spec: Spec) -> str:
    """The spec as YAML text, ready to edit."""
    return yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True)


# --- inference ------------------------------------------------------------------------------

MAX_CATEGORICAL_INTEGER_VALUES = (
    10  # an integer column with at most this many values is categorical
)
TEXT_MIN_MEAN_LENGTH = 20  # a string column this long on average, and mostly distinct, is text
TEXT_MIN_DISTINCT_SHARE = 0.5
REGRESSION_MIN_DISTINCT = 20  # a numeric target with more distinct values than this is regression


def infer_kind(column: pa.ChunkedArray | pa.Array) -> Kind | None:
    """The kind a column of this type and content is, or None if vigil cannot judge it."""
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        distinct = pc.count_distinct(column).as_py()
        return "categorical" if distinct <= MAX_CATEGORICAL_INTEGER_VALUES else "numeric"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        non_null = len(column) - column.null_count
        if non_null == 0:
            return "categorical"
        lengths = pc.utf8_length(column)
        mean_length = pc.mean(lengths).as_py() or 0.0
        distinct = pc.count_distinct(column).as_py()
        if mean_length >= TEXT_MIN_MEAN_LENGTH and distinct / non_null >= TEXT_MIN_DISTINCT_SHARE:
            return "text"
        return "categorical"
    return None


def infer_spec(
    table: pa.Table,
    *,
    target: str | None = None,
    prediction: str | None = None,
    scores: Sequence[str] = (),
    id_column: str | None = None,
    timestamp: str | None = None,
    segments: Iterable[str] = (),
) -> Spec:
    """A spec for the columns of a reference table, by the rules in docs/spec.md.

    Columns named in the keyword options get those roles; every other column is a feature.
    Columns of a type vigil cannot judge (lists, structs, binary) are left out of the spec.
    """
    names = list(table.column_names)
    roles: dict[str, Role] = {}
    named: list[tuple[str, Role]] = [(s, "score") for s in scores]
    for name, role in (
        (target, "target"),
        (prediction, "prediction"),
        (id_column, "id"),
        (timestamp, "timestamp"),
    ):
        if name is not None:
            named.append((name, role))  # type: ignore[arg-type]
    named += [(s, "segment") for s in segments]
    for name, role in named:
        if name not in names:
            raise SpecError(
                f"the {role} column {name!r} is not in the reference; its columns "
                f"are {', '.join(names)}."
            )
        if name in roles:
            raise SpecError(f"column {name!r} was given two roles: {roles[name]} and {role}.")
        roles[name] = role

    task: Task | None = None
    if target is not None:
        task = _infer_task(table.column(target))

    columns: list[ColumnSpec] = []
    for name in names:
        col_role: Role = roles.get(name, "feature")
        col = table.column(name)
        kind: Kind | None
        if col_role in ("target", "prediction"):
            kind = "numeric" if task == "regression" else "categorical"
            if task is None:  # a prediction without a target: judge it by its values
                kind = infer_kind(col)
                task = "regression" if kind == "numeric" else None
        elif col_role == "score":
            kind = "numeric"
        elif col_role in ("id", "segment"):
            kind = "categorical"
        elif col_role == "timestamp":
            kind = "datetime"
        else:
            kind = infer_kind(col)
        if kind is None:
            continue
        columns.append(ColumnSpec(name=name, role=col_role, kind=kind))

    if task is None and prediction is not None and target is None:
        task = _infer_task(table.column(prediction))
    columns = _attach_score_classes(columns, table, task, target)
    return Spec(columns=tuple(columns), task=task)


def _infer_task(column: pa.ChunkedArray) -> Task:
    t = column.type
    if pa.types.is_floating(t):
        distinct = pc.count_distinct(column).as_py()
        if distinct > REGRESSION_MIN_DISTINCT:
            return "regression"
    elif pa.types.is_integer(t) and pc.count_distinct(column).as_py() > REGRESSION_MIN_DISTINCT:
        return "regression"
    classes = pc.count_distinct(column).as_py()
    return "binary" if classes <= 2 else "multiclass"


def _attach_score_classes(
    columns: list[ColumnSpec], table: pa.Table, task: Task | None, target: str | None
) -> list[ColumnSpec]:
    """For multiclass scores, name the class each score column is the probability of.

    A score column whose name ends with `_<class>` gets that class; the rest are matched to the
    sorted class labels in order.
    """
    scores = [c for c in columns if c.role == "score"]
    if task != "multiclass" or len(scores) < 2 or target is None:
        return columns
    labels = sorted(str(v) for v in pc.unique(table.column(target)).to_pylist() if v is not None)
    chosen: dict[str, str] = {}
    for c in scores:
        suffix = c.name.rsplit("_", 1)[-1]
        if suffix in labels and suffix not in chosen.values():
            chosen[c.name] = suffix
    rest = [label for label in labels if label not in chosen.values()]
    for c in scores:
        if c.name not in chosen:
            if not rest:
                raise SpecError(
                    f"score column {c.name!r}: there are more score columns than "
                    f"classes ({', '.join(labels)}) in the target {target!r}."
                )
            chosen[c.name] = rest.pop(0)
    return [replace(c, score_class=chosen[c.name]) if c.name in chosen else c for c in columns]
