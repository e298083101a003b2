"""Mergeable column summaries, so that drift can be measured from summaries instead of rows.

A reference profile takes its bin edges from its own data; every later profile of the same
column is built on those edges (`numeric_profile(..., like=reference)`), so that windows are
scored on the same bins and profiles of partitions merge. Histogram measures from profiles are
exact; KS and Wasserstein are approximations with guaranteed bounds (`approximate_ks`,
`approximate_wasserstein`). Profiles are saved as versioned JSON (docs/profile-format.md).
"""

from vigil.profile.approximate import (
    Approximation,
    approximate_ks,
    approximate_ks_p_value,
    approximate_wasserstein,
)
from vigil.profile.categorical import (
    CategoricalProfile,
    aligned_counts,
    categorical_profile,
    merge_categorical,
)
from vigil.profile.file import (
    PROFILE_FORMAT_VERSION,
    DatasetProfile,
    is_profile_file,
    load_profile,
    save_profile,
)
from vigil.profile.numeric import (
    QUANTILE_LEVELS,
    NumericProfile,
    iqr_fences,
    merge_numeric,
    numeric_profile,
    reference_numeric_profile,
)
from vigil.profile.quantiles import (
    merge_sketches,
    sketch_of,
    sketch_quantiles,
    sketch_rank_error,
)

__all__ = [
    "PROFILE_FORMAT_VERSION",
    "QUANTILE_LEVELS",
    "Approximation",
    "CategoricalProfile",
    "DatasetProfile",
    "NumericProfile",
    "aligned_counts",
    "approximate_ks",
    "approximate_ks_p_value",
    "approximate_wasserstein",
    "categorical_profile",
    "iqr_fences",
    "is_profile_file",
    "load_profile",
    "merge_categorical",
    "merge_numeric",
    "merge_sketches",
    "numeric_profile",
    "reference_numeric_profile",
    "save_profile",
    "sketch_of",
    "sketch_quantiles",
    "sketch_rank_error",
]
