"""Step 7, saved folds, repeated cross-validation, metrics and statistics.

>>> from mgmtfeat.evaluation import make_folds, cross_validate
"""

from mgmtfeat.evaluation.core import (CVResult, binary_metrics, EvaluationError, check_labels, concordance_correlation, cross_validate,
                                      fold_seed, load_folds, make_folds, net_benefit, sem, summarise, wilcoxon_paired)

__all__ = ["CVResult", "binary_metrics", "EvaluationError", "check_labels", "concordance_correlation", "cross_validate", "fold_seed",
           "load_folds", "make_folds", "net_benefit", "sem", "summarise", "wilcoxon_paired"]
