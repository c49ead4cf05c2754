"""Step 8, saved folds, repeated cross-validation, metrics and statistics.

>>> from mgmtfeat.evaluation import make_folds, cross_validate

``folds`` (saved, shared; a scikit-learn splitter over them), ``validate`` (CV over saved folds),
``metrics`` (per fold), ``statistics`` (over folds and between models), ``predictive_index`` (the slice
pathway's patient-level protocol: slice classifier, predictive index, cutoff on training patients, vote).
"""

from mgmtfeat.evaluation.folds import (EvaluationError, SavedFolds, check_group_folds, check_groups, check_labels,
                                       fold_seed, folds_key, load_folds, make_folds)
from mgmtfeat.evaluation.metrics import METRICS, binary_metrics, fold_metrics, net_benefit
from mgmtfeat.evaluation.statistics import concordance_correlation, sem, summarise, versus_reference
from mgmtfeat.evaluation.validate import CVResult, cross_validate

__all__ = ["CVResult", "EvaluationError", "METRICS", "SavedFolds", "binary_metrics", "check_group_folds",
           "check_groups", "check_labels", "concordance_correlation", "cross_validate", "fold_metrics", "fold_seed",
           "folds_key", "load_folds", "make_folds", "net_benefit", "sem", "summarise", "versus_reference"]
