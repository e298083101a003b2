"""A model's spec as data: its columns (role, kind, drift method and thresholds) and options.

A spec is written in YAML (`vigil.spec.file`, docs/spec.md) or inferred from a reference set
(`vigil.spec.infer`). Thresholds live here as data; the statistics kernels measure, and
`vigil.verdict` alone reads a value against a threshold and decides its status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vigil.detect.registry import DETECTORS, check_params
from vigil.errors import SpecError
from vigil.spec.methods import (
    DEFAULT_METHODS,
    DRIFT_METHODS,
    KIND_TESTS,
    ON_REQUEST,
    drift_method,
)
from vigil.spec.types import (
    CATEGORY_KINDS,
    DRIFT_ROLES,
    FAIRNESS_MEASURES,
    KINDS,
    ROLES,
    Correction,
    Kind,
    Role,
    Task,
    Threshold,
)

SPEC_VERSION = 1


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
    protected: bool = False  # a segment whose groups the fairness measures compare

    @property
    def effective_method(self) -> str:
        """The drift method that decides this column."""
        return self.method or DEFAULT_METHODS[self.kind]

    @property
    def test(self) -> str:
        """The significance test of this column's kind (ks, chi2 or z)."""
        return KIND_TESTS[self.kind]

    def thresholds(self) -> Threshold:
        """Warning and critical levels of the effective method, overrides applied."""
        method = drift_method(self.name, self.effective_method)
        default = method.default
        warning = self.threshold if self.threshold is not None else None
        if warning is None and default is not None:
            warning = default.warning
        if warning is None:
            raise SpecError(
                f"column {self.name!r}: method {method.name!r} is measured in the "
                f"column's own units, so it needs a threshold; add "
                f"`threshold: <value>` under the column in the spec."
            )
        by_p = method.decides_by == "p_value"
        critical = self.critical
        if critical is None:
            if self.threshold is None and default is not None:
                critical = default.critical
            else:  # an overridden warning level moves the critical one with it
                critical = warning / 50 if by_p else 2 * warning
        try:
            return Threshold(warning, critical, "below" if by_p else "above")
        except ValueError as err:
            raise SpecError(f"column {self.name!r}, drift method {method.name!r}: {err}") from None


@dataclass(frozen=True, slots=True)
class DriftOptions:
    """How column verdicts and the dataset verdict are reached."""

    alpha: float | None = 0.05  # significance level; None: effect size alone decides
    correction: Correction = "bh"  # multiple-testing correction across the drift-checked columns
    # the share of features that drifted: a warning at the first level, critical at the second
    dataset_share: Threshold = Threshold(0.25, 0.5)
    n_bins: int = 10  # reference quantile bins for the histogram measures
    extra_metrics: tuple[str, ...] = ()  # also compute these, e.g. ("anderson", "cvm", "energy")


@dataclass(frozen=True, slots=True)
class QualityOptions:
    """Thresholds of the data-quality checks (shares of current rows), and their noise test.

    A check fires when its share reaches a level *and* the share is beyond what sampling
    explains: its p-value, adjusted across the report's quality tests like drift's, is below
    `alpha` (docs/statistics.md, "Data quality"). `alpha` None: the levels alone decide.
    """

    missing_increase: Threshold = Threshold(0.05, 0.2)  # current missing share minus reference's
    out_of_range: Threshold = Threshold(0.01, 0.05)
    unseen_share: Threshold = Threshold(0.01, 0.05)
    outlier_increase: Threshold = Threshold(0.05, 0.2)  # current outlier share minus reference's
    duplicate_rows: Threshold = Threshold(0.01, 0.05)  # increase over the reference's own share
    type_mismatch: Threshold = Threshold(0.0001, 0.01)
    alpha: float | None = 0.05


QUALITY_CHECKS = (
    "missing_increase",
    "out_of_range",
    "unseen_share",
    "outlier_increase",
    "duplicate_rows",
    "type_mismatch",
)


@dataclass(frozen=True, slots=True)
class PerformanceOptions:
    """When a metric's change counts: practically large *and* beyond its sampling noise.

    The worsening, relative to the reference value (and, for metrics bounded by 1, relative to
    the reference's error 1 − value, whichever is larger) must reach `warning_drop` /
    `critical_drop`, and be at least `standard_errors` standard errors of the difference.
    Below `min_labelled` labelled current rows the metrics are `pending`.
    """

    warning_drop: float = 0.05
    critical_drop: float = 0.10
    standard_errors: Threshold = Threshold(3.0, 4.0)
    min_labelled: int = 100


# Attribution columns of files and frames are named `<prefix><feature>`; the service stores a
# record's `attributions` as `__attr__<feature>` (names starting with `__` are vigil's own).
ATTRIBUTION_COLUMN = "__attr__"


@dataclass(frozen=True, slots=True)
class AttributionOptions:
    """How per-feature attributions (e.g. SHAP values) are read and their drift judged.

    The ranking check follows SageMaker Clarify's feature attribution drift: NDCG of the
    current ranking of features by mean |attribution| against the reference's, the reference's
    mean |attribution| as relevance; Clarify flags below 0.9 (`ndcg` warning), critical below
    0.8, and only when NDCG is `standard_errors` standard errors below what unchanged reference
    rows of the window's size give. A feature's own check needs its relative change of mean
    |attribution| to reach `relative_change` *and* Welch's t-test of the two means, adjusted
    across the features (Benjamini–Hochberg), below `alpha` (below alpha / 50 for critical).
    `importance_weighted`: the dataset drift share counts each drifted feature by its
    reference importance instead of 1/n (docs/statistics.md, "Attribution drift").
    """

    prefix: str = "shap_"  # a file's column `shap_age` is the attribution of feature `age`
    k: int = 10  # NDCG@k
    ndcg: Threshold = Threshold(0.9, 0.8, "below")
    relative_change: Threshold = Threshold(0.5, 1.0)
    standard_errors: Threshold = Threshold(3.0, 4.0)
    alpha: float | None = 0.05  # None: the relative change alone decides
    importance_weighted: bool = False
    # the service keeps a `__attr__<feature>` column per feature for records' `attributions`
    # (off by default: it doubles the model's columns, and PostgreSQL caps a table at 1,600)
    receive: bool = False

    def column(self, feature: str) -> str:
        """The column of a file or frame holding `feature`'s attributions."""
        return f"{self.prefix}{feature}"


@dataclass(frozen=True, slots=True)
class FairnessOptions:
    """How the groups of each protected attribute are compared (docs/statistics.md, "Fairness").

    A measure's check fires when it reaches its level (a difference at or above
    `difference`, a ratio below `ratio`: 0.8 is the four-fifths rule) *and* the gap is beyond
    sampling noise: the pair of groups attaining it differs at `alpha` (p-value adjusted for
    the number of pairs). Groups under `min_group_size` rows (for TPR: actual positives; FPR:
    actual negatives) are reported but not judged. `positive_class` None: the class
    performance treats as positive (binary); a multiclass model needs one named.
    """

    measures: tuple[str, ...] = (
        "demographic_parity_difference",
        "disparate_impact",
        "equal_opportunity_difference",
        "equalized_odds_difference",
    )
    difference: Threshold = Threshold(0.1, 0.2)
    ratio: Threshold = Threshold(0.8, 0.6, "below")
    positive_class: str | None = None
    min_group_size: int = 30
    # each window judges every attribute and measure: at 0.05 a fair model would warn on about
    # one window in twenty. 0.002 asks about what performance's 3 standard errors ask
    # (two-sided 0.0027); critical needs alpha/50 (4e-5, about 4.1 standard errors).
    alpha: float | None = 0.002


Calibration = Literal["auto", "always", "never"]
# every metric an estimator may give (CBPE binary and multiclass, DLE): `estimation.metrics`
ESTIMATED_METRICS = (
    "roc_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "specificity",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "specificity_macro",
    "mae",
    "rmse",
    "mape",
)


@dataclass(frozen=True, slots=True)
class EstimationOptions:
    """Performance estimated before the labels arrive (CBPE, DLE), and when its drop counts.

    `enabled`: None (auto) estimates when the task is classification with score columns (or
    regression) and the reference has labels; False never, True whenever it can.
    `calibration` (CBPE): `auto` recalibrates the scores when the reference shows they are not
    calibrated (docs/statistics.md), `always` / `never` decide it outright. `metrics`: the
    estimated metrics to report (empty: all the task has). A drop is judged as performance's
    is: relative to the reference's realized value, beyond `standard_errors` standard errors.
    """

    enabled: bool | None = None
    calibration: Calibration = "auto"
    metrics: tuple[str, ...] = ()
    warning_drop: float = 0.05
    critical_drop: float = 0.10
    standard_errors: Threshold = Threshold(3.0, 4.0)


@dataclass(frozen=True, slots=True)
class MultivariateOptions:
    """Multivariate drift (docs/statistics.md, "Multivariate drift"): what is measured and
    when a measure counts — practically large *and* beyond its sampling noise.

    - reconstruction error: its relative increase over the reference's mean reaches
      `reconstruction_increase`, and the current mean is `standard_errors` standard errors
      above it (the band: NannyML's reference mean ± 3σ of its chunks);
    - anomaly share: the share of rows beyond the reference's `anomaly_quantile` of errors
      reaches `anomaly_share`, and its one-sided test against the reference's own share is as
      unlikely by chance as `standard_errors` normal standard errors (3: p < 0.00135);
    - domain AUC: the cross-validated AUC reaches `domain_auc`, and its one-sided p-value
      under no difference is as small.

    Three dataset-level checks a window: each held to NannyML's 3σ band rather than a 5 %
    level, so a quiet model does not get a false warning from them every few windows.
    """

    enabled: bool | None = None  # None: on when the spec has two features or more
    columns: tuple[str, ...] = ()  # empty: every numeric, categorical or boolean feature
    variance: float = 0.65  # share of the standardized variance the kept components hold
    anomaly_quantile: float = 0.999
    # None: on for `vigil report` and `evaluate`, off in the service's windows (each window and
    # segment would train one; docs/statistics.md, "Cost"); true or false: everywhere
    domain_classifier: bool | None = None
    reference_cap: int = 10_000  # rows each side the domain classifier reads (seeded sample)
    reconstruction_increase: Threshold = Threshold(0.05, 0.15)
    standard_errors: Threshold = Threshold(3.0, 4.0)
    anomaly_share: Threshold = Threshold(0.01, 0.05)
    domain_auc: Threshold = Threshold(0.55, 0.65)


StreamParam = float | int | str | bool


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """One change detector over one per-record stream of the current set, in `vigil report`
    (docs/statistics.md, "Streaming change detectors"): `stream` is `error`, `score` or a
    numeric column; `detector` None is the service's default (adwin, cusum without River);
    `params` the detector's parameters over its defaults, checked as the service's are."""

    stream: str
    detector: str | None = None
    params: tuple[tuple[str, StreamParam], ...] = ()


# the streams a report watches when the spec does not say: the score and the error
DEFAULT_STREAMS = (StreamOptions("score"), StreamOptions("error"))


@dataclass(frozen=True, slots=True)
class Spec:
    """The columns of a model's data and the rules that judge them."""

    columns: tuple[ColumnSpec, ...]
    task: Task | None = None
    drift: DriftOptions = field(default_factory=DriftOptions)
    quality: QualityOptions = field(default_factory=QualityOptions)
    performance: PerformanceOptions = field(default_factory=PerformanceOptions)
    attribution: AttributionOptions = field(default_factory=AttributionOptions)
    fairness: FairnessOptions = field(default_factory=FairnessOptions)
    estimation: EstimationOptions = field(default_factory=EstimationOptions)
    multivariate: MultivariateOptions = field(default_factory=MultivariateOptions)
    # None: DEFAULT_STREAMS where the sets have them; (): no detector (the service's windows)
    streams: tuple[StreamOptions, ...] | None = None

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
    def protected(self) -> tuple[ColumnSpec, ...]:
        """The protected attributes: segment columns the fairness measures compare groups of."""
        return tuple(c for c in self.columns if c.protected)

    @property
    def drift_columns(self) -> tuple[ColumnSpec, ...]:
        """Columns whose drift is measured: features, predictions, scores and the target."""
        return tuple(c for c in self.columns if c.role in DRIFT_ROLES)

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
            if c.protected:
                entry["protected"] = True
            columns[c.name] = entry
        q, p, d, f = self.quality, self.performance, self.drift, self.fairness
        # written when it says something: specs without fairness keep their shape
        fairness = (
            {
                "fairness": {
                    "measures": list(f.measures),
                    "difference": [f.difference.warning, f.difference.critical],
                    "ratio": [f.ratio.warning, f.ratio.critical],
                    "positive_class": f.positive_class,
                    "min_group_size": f.min_group_size,
                    "alpha": f.alpha,
                }
            }
            if self.protected or f != FairnessOptions()
            else {}
        )
        out: dict[str, Any] = {
            "version": SPEC_VERSION,
            "task": self.task,
            "columns": columns,
            "drift": {
                "alpha": d.alpha,
                "correction": d.correction,
                "dataset_share": [d.dataset_share.warning, d.dataset_share.critical],
                "bins": d.n_bins,
                "extra_metrics": list(d.extra_metrics),
            },
            "quality": {
                **{
                    name: [getattr(q, name).warning, getattr(q, name).critical]
                    for name in QUALITY_CHECKS
                },
                "alpha": q.alpha,
            },
            "performance": {
                "warning_drop": p.warning_drop,
                "critical_drop": p.critical_drop,
                "standard_errors": [p.standard_errors.warning, p.standard_errors.critical],
                "min_labelled": p.min_labelled,
            },
            **fairness,
            "estimation": {
                "enabled": self.estimation.enabled,
                "calibration": self.estimation.calibration,
                "metrics": list(self.estimation.metrics),
                "warning_drop": self.estimation.warning_drop,
                "critical_drop": self.estimation.critical_drop,
                "standard_errors": [
                    self.estimation.standard_errors.warning,
                    self.estimation.standard_errors.critical,
                ],
            },
            "multivariate": _multivariate_dict(self.multivariate),
        }
        if self.streams is not None:  # a spec without it reads (and reports) as before
            out["streams"] = [_stream_dict(s) for s in self.streams]
        a = self.attribution
        if a != AttributionOptions():  # a spec without it reads (and reports) as before
            out["attribution"] = {
                "prefix": a.prefix,
                "k": a.k,
                "ndcg": [a.ndcg.warning, a.ndcg.critical],
                "relative_change": [a.relative_change.warning, a.relative_change.critical],
                "standard_errors": [a.standard_errors.warning, a.standard_errors.critical],
                "alpha": a.alpha,
                "importance_weighted": a.importance_weighted,
                "receive": a.receive,
            }
        return out


def _stream_dict(s: StreamOptions) -> dict[str, Any]:
    out: dict[str, Any] = {"stream": s.stream}
    if s.detector is not None:
        out["detector"] = s.detector
    if s.params:
        out["params"] = dict(s.params)
    return out


def _multivariate_dict(m: MultivariateOptions) -> dict[str, Any]:
    return {
        "enabled": m.enabled,
        "columns": list(m.columns),
        "variance": m.variance,
        "anomaly_quantile": m.anomaly_quantile,
        "domain_classifier": m.domain_classifier,
        "reference_cap": m.reference_cap,
        **{
            name: [getattr(m, name).warning, getattr(m, name).critical]
            for name in MULTIVARIATE_LEVELS
        },
    }


MULTIVARIATE_LEVELS = (
    "reconstruction_increase",
    "standard_errors",
    "anomaly_share",
    "domain_auc",
)


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
        if col.protected and (col.role != "segment" or col.kind not in CATEGORY_KINDS):
            raise SpecError(
                f"column {col.name!r}: only a categorical segment column can be `protected: "
                f"true`; this one is a {col.kind} {col.role}. Give it `role: segment` "
                f"(categorical), or drop `protected`."
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
        claimed: dict[str, str] = {}
        for c in scores:
            if c.score_class is not None and c.score_class in claimed:
                raise SpecError(
                    f"score columns {claimed[c.score_class]!r} and {c.name!r} both name the "
                    f"class {c.score_class!r}; give each class one score column."
                )
            if c.score_class is not None:
                claimed[c.score_class] = c.name
    elif spec.task in ("binary", "regression") and len(spec.with_role("score")) > 1:
        names = ", ".join(c.name for c in spec.with_role("score"))
        raise SpecError(
            f"a {spec.task} model has one score column; the spec has {names}. "
            f"Set `task: multiclass` or keep one score column."
        )
    d = spec.drift
    if d.alpha is not None and not 0 < d.alpha < 1:
        raise SpecError(f"drift.alpha must be between 0 and 1 (or null); got {d.alpha!r}.")
    share = d.dataset_share
    if not 0 < share.warning <= share.critical <= 1:
        raise SpecError(
            f"drift.dataset_share must be [warning, critical] with 0 < warning <= critical "
            f"<= 1; got [{share.warning}, {share.critical}]."
        )
    if d.n_bins < 2:
        raise SpecError(f"drift.bins must be at least 2; got {d.n_bins!r}.")
    for name in d.extra_metrics:
        if name not in ON_REQUEST:
            raise SpecError(
                f"drift.extra_metrics: unknown measure {name!r}; "
                f"use any of {', '.join(ON_REQUEST)}."
            )
    q = spec.quality
    if q.alpha is not None and not 0 < q.alpha < 1:
        raise SpecError(f"quality.alpha must be between 0 and 1 (or null); got {q.alpha!r}.")
    for name in QUALITY_CHECKS:
        level = getattr(q, name)
        if level.warning < 0:
            raise SpecError(
                f"quality.{name} must be [warning, critical] with 0 <= warning <= critical; "
                f"got [{level.warning}, {level.critical}]."
            )
    p = spec.performance
    if not 0 < p.warning_drop <= p.critical_drop:
        raise SpecError(
            f"performance needs 0 < warning_drop <= critical_drop; got "
            f"{p.warning_drop} and {p.critical_drop}."
        )
    if p.standard_errors.warning < 0:
        raise SpecError(
            f"performance.standard_errors must be [warning, critical] with 0 <= warning <= "
            f"critical; got [{p.standard_errors.warning}, {p.standard_errors.critical}]."
        )
    if p.min_labelled < 1:
        raise SpecError(f"performance.min_labelled must be at least 1; got {p.min_labelled!r}.")
    _check_attribution(spec.attribution)
    _check_fairness(spec.fairness)
    _check_estimation(spec.estimation)
    _check_multivariate(spec)
    _check_streams(spec)


def _check_attribution(a: AttributionOptions) -> None:
    if not a.prefix or a.prefix.startswith("__"):
        raise SpecError(
            f"attribution.prefix must be a non-empty column-name prefix not starting with "
            f"'__' (reserved for vigil); got {a.prefix!r}."
        )
    if a.k < 1:
        raise SpecError(f"attribution.k must be at least 1; got {a.k!r}.")
    if a.ndcg.direction != "below" or not 0 < a.ndcg.critical <= a.ndcg.warning <= 1:
        raise SpecError(
            f"attribution.ndcg must be [warning, critical] with 1 >= warning >= critical > 0 "
            f"(NDCG below a level reaches it); got [{a.ndcg.warning}, {a.ndcg.critical}]."
        )
    if not 0 < a.relative_change.warning <= a.relative_change.critical:
        raise SpecError(
            f"attribution.relative_change must be [warning, critical] with 0 < warning <= "
            f"critical; got [{a.relative_change.warning}, {a.relative_change.critical}]."
        )
    if a.alpha is not None and not 0 < a.alpha < 1:
        raise SpecError(f"attribution.alpha must be between 0 and 1 (or null); got {a.alpha!r}.")
    if a.standard_errors.warning < 0:
        raise SpecError(
            f"attribution.standard_errors must be [warning, critical] with 0 <= warning <= "
            f"critical; got [{a.standard_errors.warning}, {a.standard_errors.critical}]."
        )


def _check_fairness(f: FairnessOptions) -> None:
    repeated = sorted({name for name in f.measures if f.measures.count(name) > 1})
    if repeated:
        raise SpecError(
            f"fairness.measures lists {', '.join(repeated)} more than once; list each once."
        )
    for name in f.measures:
        if name not in FAIRNESS_MEASURES:
            raise SpecError(
                f"fairness.measures: unknown measure {name!r}; use any of "
                f"{', '.join(FAIRNESS_MEASURES)}."
            )
    if not 0 < f.difference.warning <= f.difference.critical <= 1:
        raise SpecError(
            f"fairness.difference must be [warning, critical] with 0 < warning <= critical "
            f"<= 1 (a gap between two rates); got [{f.difference.warning}, "
            f"{f.difference.critical}]."
        )
    if f.ratio.direction != "below" or not 0 < f.ratio.critical <= f.ratio.warning <= 1:
        raise SpecError(
            f"fairness.ratio must be [warning, critical] with 1 >= warning >= critical > 0 "
            f"(a ratio fires below its level, e.g. [0.8, 0.6]); got [{f.ratio.warning}, "
            f"{f.ratio.critical}]."
        )
    if f.min_group_size < 1:
        raise SpecError(f"fairness.min_group_size must be at least 1; got {f.min_group_size!r}.")
    if f.alpha is not None and not 0 < f.alpha < 1:
        raise SpecError(f"fairness.alpha must be between 0 and 1 (or null); got {f.alpha!r}.")


def _check_estimation(e: EstimationOptions) -> None:
    if e.calibration not in get_args(Calibration):
        raise SpecError(
            f"estimation.calibration: unknown value {e.calibration!r}; use one of "
            f"{', '.join(get_args(Calibration))}."
        )
    for name in e.metrics:
        if name not in ESTIMATED_METRICS:
            raise SpecError(
                f"estimation.metrics: unknown metric {name!r}; use any of "
                f"{', '.join(ESTIMATED_METRICS)}."
            )
    if not 0 < e.warning_drop <= e.critical_drop:
        raise SpecError(
            f"estimation needs 0 < warning_drop <= critical_drop; got "
            f"{e.warning_drop} and {e.critical_drop}."
        )
    if not 0 <= e.standard_errors.warning <= e.standard_errors.critical:
        raise SpecError(
            f"estimation.standard_errors must be [warning, critical] with 0 <= warning <= "
            f"critical; got [{e.standard_errors.warning}, {e.standard_errors.critical}]."
        )


def _check_multivariate(spec: Spec) -> None:
    m = spec.multivariate
    for name in m.columns:
        col = spec.column(name) if name in spec.names else None
        if col is None:
            raise SpecError(
                f"multivariate.columns names {name!r}, which the spec does not have; its "
                f"columns are {', '.join(spec.names)}."
            )
        if col.kind not in ("numeric", "datetime", "text", "categorical", "boolean"):
            raise SpecError(f"multivariate.columns: {name!r} is {col.kind}; it cannot be encoded.")
        if col.role not in ("feature", "prediction", "score"):
            raise SpecError(
                f"multivariate.columns: {name!r} is the {col.role} column; only features, "
                f"predictions and scores are inputs (labels arrive late, ids are unique)."
            )
    if len(set(m.columns)) != len(m.columns):
        raise SpecError("multivariate.columns names a column twice; keep one entry each.")
    if not 0 < m.variance <= 1:
        raise SpecError(f"multivariate.variance must be in (0, 1]; got {m.variance!r}.")
    if not 0.5 <= m.anomaly_quantile < 1:
        raise SpecError(
            f"multivariate.anomaly_quantile must be in [0.5, 1); got {m.anomaly_quantile!r}."
        )
    if m.reference_cap < 100:
        raise SpecError(
            f"multivariate.reference_cap must be at least 100; got {m.reference_cap!r}."
        )
    auc = m.domain_auc
    if not 0.5 < auc.warning <= auc.critical <= 1:
        raise SpecError(
            f"multivariate.domain_auc must be [warning, critical] with 0.5 < warning <= "
            f"critical <= 1; got [{auc.warning}, {auc.critical}]."
        )
    for name in ("reconstruction_increase", "standard_errors", "anomaly_share"):
        level = getattr(m, name)
        if level.warning < 0:
            raise SpecError(
                f"multivariate.{name} must be [warning, critical] with 0 <= warning <= "
                f"critical; got [{level.warning}, {level.critical}]."
            )


def _check_streams(spec: Spec) -> None:
    """Each `streams:` entry names a stream the spec has and a detector with valid params."""
    numeric = [c.name for c in spec.columns if c.kind == "numeric"]
    seen: set[tuple[str, str | None]] = set()
    for i, entry in enumerate(spec.streams or ()):
        where = f"streams[{i}]"
        if entry.stream not in ("error", "score", *numeric):
            raise SpecError(
                f"{where}.stream: {entry.stream!r} is not `error`, `score` or a numeric "
                f"column of the spec; numeric columns: {', '.join(numeric) or 'none'}."
            )
        if entry.detector is not None and entry.detector not in DETECTORS:
            raise SpecError(
                f"{where}.detector: unknown detector {entry.detector!r}; use one of "
                f"{', '.join(sorted(DETECTORS))}."
            )
        if entry.detector is not None:
            try:
                check_params(entry.detector, dict(entry.params), where=f"{where}.params")
            except ValueError as err:
                raise SpecError(str(err)) from None
            inputs = DETECTORS[entry.detector].inputs
            binary = entry.stream == "error" and spec.task in ("binary", "multiclass")
            if not binary and "numeric" not in inputs:
                raise SpecError(
                    f"{where}.detector: {entry.detector} reads 0/1 streams and "
                    f"{entry.stream!r} is numeric; use adwin, page_hinkley or cusum."
                )
        elif entry.params:
            raise SpecError(
                f"{where}.params: parameters need the detector they are for; name it "
                "(detector: adwin, cusum, ...)."
            )
        if (entry.stream, entry.detector) in seen:
            raise SpecError(f"{where}: stream {entry.stream!r} with this detector is listed twice.")
        seen.add((entry.stream, entry.detector))
