"""Pure numeric kernels: numpy arrays in, numbers or small frozen results out.

No I/O, no pandas, no logging, and nothing imported from the rest of vigil. Inputs are
1-D float64 samples with NaN and infinity already removed (and counted) by the caller, or
aligned integer count vectors on the same bins or categories. Bad input raises `ValueError`
with the numbers received and what to do.

Naming rule for the public names:

- ``*_distance`` returns a float ≥ 0; lower is closer, 0 for identical inputs.
- ``*_test`` returns a `TestResult` (statistic and p-value); a small p-value is evidence of a
  difference.
- ``*_score`` returns a float where higher is better; ``*_error`` and ``*_loss`` a float
  where lower is better (the model-performance metrics, as scikit-learn names them).
- Well-known names keep their usual spelling: ``psi``, ``kl_divergence``.
"""

from vigil.stats.anderson import anderson_darling_test
from vigil.stats.binning import bin_counts, quantile_edges, quantiles_of_sorted
from vigil.stats.chi2 import chi2_test
from vigil.stats.classification import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    expected_calibration_error,
    f1_score,
    false_negative_rate,
    false_positive_rate,
    log_loss,
    log_losses,
    multiclass_brier_score_loss,
    precision_recall_f1,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_auc_score_ovr,
    top_label_calibration_error,
)
from vigil.stats.cramer_von_mises import cramer_von_mises_test
from vigil.stats.ecdf import EcdfComparison, SamplePair, compare_ecdfs
from vigil.stats.energy import energy_distance
from vigil.stats.fairness import Disparity, rate_difference, rate_ratio
from vigil.stats.hellinger import hellinger_distance
from vigil.stats.histogram_measures import HistogramMeasures, histogram_measures
from vigil.stats.jensen_shannon import jensen_shannon_distance
from vigil.stats.kl import kl_divergence
from vigil.stats.ks import ks_test
from vigil.stats.multiple_testing import adjust_p_values
from vigil.stats.proportions import proportions_z_test
from vigil.stats.psi import psi
from vigil.stats.regression import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_error,
    r2_score,
    root_mean_squared_error,
)
from vigil.stats.result import TestResult
from vigil.stats.sampling import (
    beyond_range_test,
    constant_chance,
    excess_count_test,
    share_increase_test,
)
from vigil.stats.sampling_error import (
    auc_standard_error,
    binomial_standard_error,
    bootstrap_scales,
    mean_standard_error,
)
from vigil.stats.sorted_sample import SortedSample
from vigil.stats.wasserstein import wasserstein_distance

# One sorted list of every public kernel; a new module adds its import above and names here.
__all__ = [
    "Disparity",
    "EcdfComparison",
    "HistogramMeasures",
    "SamplePair",
    "SortedSample",
    "TestResult",
    "accuracy_score",
    "adjust_p_values",
    "anderson_darling_test",
    "auc_standard_error",
    "average_precision_score",
    "beyond_range_test",
    "bin_counts",
    "binomial_standard_error",
    "bootstrap_scales",
    "brier_score_loss",
    "chi2_test",
    "compare_ecdfs",
    "confusion_matrix",
    "constant_chance",
    "cramer_von_mises_test",
    "energy_distance",
    "excess_count_test",
    "expected_calibration_error",
    "f1_score",
    "false_negative_rate",
    "false_positive_rate",
    "hellinger_distance",
    "histogram_measures",
    "jensen_shannon_distance",
    "kl_divergence",
    "ks_test",
    "log_loss",
    "log_losses",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_error",
    "mean_standard_error",
    "multiclass_brier_score_loss",
    "precision_recall_f1",
    "precision_score",
    "proportions_z_test",
    "psi",
    "quantile_edges",
    "quantiles_of_sorted",
    "r2_score",
    "rate_difference",
    "rate_ratio",
    "recall_score",
    "roc_auc_score",
    "roc_auc_score_ovr",
    "root_mean_squared_error",
    "share_increase_test",
    "top_label_calibration_error",
    "wasserstein_distance",
]
