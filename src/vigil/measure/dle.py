"""DLE: a regression window's MAE, RMSE and MAPE estimated before its labels arrive.

Direct loss estimation (NannyML's DLE; docs/statistics.md, "DLE: regression performance before
labels"). On the reference's labelled rows, one LightGBM regressor per metric learns each row's
loss — the absolute error |y − ŷ| (MAE), the squared error (y − ŷ)² (RMSE) and, where the
reference's target is never 0, the absolute percentage error |y − ŷ| / |y| (MAPE) — from the
spec's features and the prediction. A window's estimate is the mean of the predicted losses
over its rows (for RMSE the square root of the mean predicted squared error).

Its assumption is no concept shift: the relation between inputs and error is the reference's.
Covariate shift into a region where the model errs more raises the estimate; a change of how
the target depends on the inputs alone leaves it blind.

LightGBM is an optional extra (`pip install 'vigil-monitor[ml]'`). Without it the estimate is
not made: the result carries each metric in `errors` with the command, so the caller goes on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from vigil.errors import SpecError
from vigil.measure.columns import category_codes, numeric_array
from vigil.measure.estimation import Estimate, EstimationResult, Once
from vigil.measure.performance import HIGHER_IS_BETTER, MetricChange
from vigil.spec import ColumnSpec, Spec
from vigil.spec.values import distinct_categories
from vigil.stats import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_standard_error,
    root_mean_squared_error,
)

METRICS = ("mae", "rmse", "mape")
MIN_REFERENCE_ROWS = 100  # labelled reference rows below which no model is fitted
INSTALL = "pip install 'vigil-monitor[ml]'"
# LightGBM's own settings on top of LGBMRegressor's defaults (NannyML's choice): quiet, the
# same trees on every run for the same inputs, and one thread — `evaluate` runs its measures
# in a pool already, and OpenMP threads that spin-wait on a shared machine are many times
# slower than one (a spec may set `n_jobs`).
BASE_PARAMETERS: dict[str, Any] = {
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
    "n_jobs": 1,
}
# LGBMRegressor's arguments a spec may not set: the objective must stay the squared loss (the
# model of a loss then estimates its mean; an L1 objective would estimate its median).
FIXED_PARAMETERS = frozenset({"objective", "class_weight", "importance_type"})
Scalar = bool | int | float | str


@dataclass(frozen=True, slots=True)
class DleFit:
    """The loss models fitted on the reference, and what the reference itself measured."""

    inputs: tuple[str, ...]  # model inputs in matrix order: the features, then the prediction
    categories: dict[str, tuple[str, ...]]  # categorical input -> reference categories by code
    models: dict[str, Any]  # metric -> fitted `lightgbm.LGBMRegressor` of that metric's loss
    reference_values: dict[str, float]  # metric -> the reference's realized value
    reference_errors: dict[str, float]  # metric -> its standard error at the reference's size
    loss_std: dict[str, float]  # metric -> sd (ddof 1) of the reference's per-row loss
    rows: int  # labelled reference rows the models were fitted on
    errors: dict[str, str]  # metric -> why it has no model


def estimate_dle(
    spec: Spec,
    reference: pa.Table,
    current: pa.Table,
    once: Once[DleFit],
    *,
    hyperparameters: Mapping[str, Any] | None = None,
) -> EstimationResult:
    """MAE, RMSE and MAPE of `current` estimated from its features and predictions alone.

    `hyperparameters` are `lightgbm.LGBMRegressor` arguments (default: its defaults, as
    NannyML). The fit goes through `once`, so a prepared reference fits once per model version.
    Each estimate has the standard error of the window's realized value at its size, the
    reference's realized value as `change`, and `realized` when `current` carries labels.
    """
    if spec.task != "regression":
        raise SpecError(
            f"DLE estimates regression metrics; the spec's task is {spec.task!r}. "
            "Use CBPE (vigil.measure.cbpe) for classification."
        )
    target, prediction = spec.single("target"), spec.single("prediction")
    if target is None or prediction is None:
        raise SpecError("DLE needs a target and a prediction column in the spec; add their roles.")
    params = _checked(hyperparameters)
    absent = [c.name for c in (target, prediction) if c.name not in reference.column_names]
    if absent:
        why = f"the reference lacks {', '.join(absent)}: DLE fits on its labelled rows"
        return EstimationResult("dle", {}, 0, errors={m: why for m in METRICS})
    known = [c for c in spec.with_role("feature") if c.name in reference.column_names]
    features = (*known, prediction)
    fit = once(
        ("dle", target.name, tuple(c.name for c in features), tuple(sorted(params.items()))),
        lambda: _fit(reference, target.name, features, params),
    )
    missing = [name for name in fit.inputs if name not in current.column_names]
    if missing:
        why = f"the current set lacks the model input(s) {', '.join(missing)}"
        return EstimationResult("dle", {}, 0, errors={m: why for m in METRICS})
    by_name = {c.name: c for c in features}
    x = _matrix([by_name[n] for n in fit.inputs], current, fit.categories)
    keep = ~np.isnan(x[:, -1])  # the prediction: rows without one have no error to estimate
    n = int(keep.sum())
    errors = dict(fit.errors)
    if n == 0:
        why = f"no current row has a prediction ({prediction.name!r})"
        return EstimationResult("dle", {}, 0, errors={m: why for m in METRICS})
    realized = _realized(current, target.name, prediction.name)
    estimates: dict[str, Estimate] = {}
    for metric, model in fit.models.items():
        mean_loss = max(float(np.mean(model.predict(x[keep]))), 0.0)
        value = math.sqrt(mean_loss) if metric == "rmse" else mean_loss
        se = fit.loss_std[metric] / math.sqrt(n)
        if metric == "rmse":  # delta method: SE(√m) = SE(m) / (2√m)
            se = se / (2.0 * value) if value > 0 else math.inf
        ref_se = fit.reference_errors[metric]
        change = MetricChange(
            metric,
            fit.reference_values[metric],
            value,
            math.sqrt(ref_se * ref_se + se * se),
            HIGHER_IS_BETTER[metric],
            False,
        )
        estimates[metric] = Estimate(metric, value, se, change, realized.get(metric))
    return EstimationResult("dle", estimates, n, errors=errors)


def _fit(
    reference: pa.Table,
    target: str,
    inputs: tuple[ColumnSpec, ...],
    hyperparameters: Mapping[str, Scalar],
) -> DleFit:
    """One LightGBM model per metric of the reference's per-row loss, on its labelled rows."""
    names = tuple(c.name for c in inputs)
    categories = {
        c.name: tuple(distinct_categories(reference.column(c.name)))
        for c in inputs
        if _is_categorical(c)
    }
    y = numeric_array(reference.column(target), "numeric")[0]
    x = _matrix(list(inputs), reference, categories)
    labelled = np.isfinite(y) & ~np.isnan(x[:, -1])
    y, x = y[labelled], x[labelled]
    rows = int(y.size)
    if rows < MIN_REFERENCE_ROWS:
        why = (
            f"the reference has {rows} rows with both a target and a prediction; DLE fits its "
            f"loss models on at least {MIN_REFERENCE_ROWS}"
        )
        return DleFit(names, categories, {}, {}, {}, {}, rows, {m: why for m in METRICS})
    try:
        from lightgbm import LGBMRegressor
        from lightgbm.basic import LightGBMError
    except ImportError:
        why = f"DLE fits its loss models with LightGBM, which is not installed: {INSTALL}"
        return DleFit(names, categories, {}, {}, {}, {}, rows, {m: why for m in METRICS})
    residual = x[:, -1] - y
    losses = {"mae": np.abs(residual), "rmse": np.square(residual)}
    errors: dict[str, str] = {}
    zeros = int(np.count_nonzero(y == 0))
    if zeros:
        errors["mape"] = (
            f"the reference's target {target!r} is 0 in {zeros} rows, where the "
            "percentage error is undefined; MAPE is estimated only for a target never 0"
        )
    else:
        losses["mape"] = np.abs(residual) / np.abs(y)
    categorical = [i for i, c in enumerate(inputs) if _is_categorical(c)]
    models: dict[str, Any] = {}
    for metric, loss in losses.items():
        model = LGBMRegressor(**{**BASE_PARAMETERS, **hyperparameters})
        try:
            model.fit(x, loss, categorical_feature=categorical or "auto")
        except (LightGBMError, ValueError, TypeError) as err:  # a value LightGBM refuses
            raise SpecError(
                f"DLE hyperparameters {dict(hyperparameters)}: LightGBM refused them: {err}"
            ) from None
        models[metric] = model
    values = {
        "mae": mean_absolute_error(y, x[:, -1]),
        "rmse": root_mean_squared_error(y, x[:, -1]),
    }
    ref_errors = {
        "mae": mean_standard_error(losses["mae"]),
        "rmse": mean_standard_error(losses["rmse"]) / (2.0 * values["rmse"])
        if values["rmse"] > 0
        else 0.0,
    }
    if "mape" in losses:
        values["mape"] = mean_absolute_percentage_error(y, x[:, -1])
        ref_errors["mape"] = mean_standard_error(losses["mape"])
    loss_std = {m: float(np.std(loss, ddof=1)) for m, loss in losses.items()}
    return DleFit(names, categories, models, values, ref_errors, loss_std, rows, errors)


def _is_categorical(column: ColumnSpec) -> bool:
    return column.kind in ("categorical", "boolean") and column.role == "feature"


def _matrix(
    inputs: list[ColumnSpec],
    table: pa.Table,
    categories: Mapping[str, tuple[str, ...]],
) -> NDArray[np.float64]:
    """The model inputs as float64 columns: numbers as `numeric_array` reads them (NaN for
    missing); a categorical input as the position of its value among the reference's sorted
    categories, NaN (LightGBM's missing) for a missing or unseen value."""
    columns: list[NDArray[np.float64]] = []
    for c in inputs:
        if c.name in categories:
            codes = category_codes(table.column(c.name), categories[c.name]).astype(np.float64)
            columns.append(np.where(codes < 0, np.nan, codes))
        else:
            kind = "numeric" if c.kind in ("categorical", "boolean") else c.kind
            values = numeric_array(table.column(c.name), kind)[0]
            columns.append(np.where(np.isinf(values), np.nan, values))  # ±inf: missing
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))


def _realized(table: pa.Table, target: str, prediction: str) -> dict[str, float]:
    """MAE, RMSE and MAPE on the rows of `table` that carry a target and a prediction."""
    if target not in table.column_names:
        return {}
    y = numeric_array(table.column(target), "numeric")[0]
    yp = numeric_array(table.column(prediction), "numeric")[0]
    keep = np.isfinite(y) & np.isfinite(yp)
    if not keep.any():
        return {}
    y, yp = y[keep], yp[keep]
    return {
        "mae": mean_absolute_error(y, yp),
        "rmse": root_mean_squared_error(y, yp),
        "mape": mean_absolute_percentage_error(y, yp),
    }


def _checked(hyperparameters: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """The hyperparameters, refused with the key named unless each is an `LGBMRegressor`
    argument (other than the objective) with a finite number, a bool or a string."""
    if hyperparameters is None:
        return {}
    if not isinstance(hyperparameters, Mapping):
        raise SpecError(
            f"DLE hyperparameters must be a mapping of LGBMRegressor arguments; got "
            f"{type(hyperparameters).__name__}."
        )
    out: dict[str, Scalar] = {}
    for key, value in hyperparameters.items():
        if not isinstance(key, str) or key not in LGBM_ARGUMENTS:
            raise SpecError(
                f"DLE hyperparameter {key!r} is not one vigil passes to LightGBM; use one of "
                f"{', '.join(sorted(LGBM_ARGUMENTS))}."
            )
        finite = not isinstance(value, float) or math.isfinite(value)
        if not isinstance(value, bool | int | float | str) or not finite:
            raise SpecError(
                f"DLE hyperparameter {key!r} must be a finite number, a boolean or a string; "
                f"got {value!r}."
            )
        out[key] = value
    return out


# `lightgbm.LGBMRegressor`'s constructor arguments (LightGBM 4), less FIXED_PARAMETERS; listed
# here so a spec is checked without importing LightGBM.
LGBM_ARGUMENTS: frozenset[str] = frozenset(
    {
        "boosting_type",
        "num_leaves",
        "max_depth",
        "learning_rate",
        "n_estimators",
        "subsample_for_bin",
        "min_split_gain",
        "min_child_weight",
        "min_child_samples",
        "subsample",
        "subsample_freq",
        "colsample_bytree",
        "reg_alpha",
        "reg_lambda",
        "random_state",
        "n_jobs",
    }
)
