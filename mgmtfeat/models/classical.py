"""Classical classifiers, each inside a Pipeline so scaling and selection see training rows only."""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

__all__ = ["make_logistic", "make_svm", "make_random_forest", "make_xgboost"]


def make_logistic(random_state=None, C: float = 1e-3) -> Pipeline:
    """Standardised, strongly L2-regularised logistic regression."""
    return Pipeline([
        ("scale", StandardScaler()),
        ("clf", LogisticRegression(C=C, max_iter=5000, random_state=random_state)),
    ])


def make_svm(random_state=None, C: float = 1.0, k: int | str = 200) -> Pipeline:
    """RBF support-vector machine on the ``k`` best features by ANOVA F, with Platt-scaled probabilities.

    The sigmoid calibration is fitted by an internal 5-fold CV of the training rows. Features that are
    constant on the training rows (e.g. a ReLU unit of an image network that never fires on these
    slices) are dropped first: their F statistic is undefined, and nothing else changes.
    """
    svm = SVC(C=C, kernel="rbf", random_state=random_state)
    return Pipeline([
        ("drop_constant", VarianceThreshold(0.0)),
        ("scale", StandardScaler()),
        ("select", SelectKBest(f_classif, k=k)),
        ("clf", CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=False)),
    ])


def make_random_forest(random_state=None, n_estimators: int = 300, n_jobs: int = 1) -> Pipeline:
    """Random forest (scaling is harmless for trees and keeps every pipeline the same shape)."""
    return Pipeline([
        ("scale", StandardScaler()),
        ("clf", RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=3, max_features="sqrt",
                                       n_jobs=n_jobs, random_state=random_state)),
    ])


def make_xgboost(random_state=None, n_estimators: int = 200, n_jobs: int = 1) -> Pipeline:
    """Gradient-boosted trees (XGBoost, histogram method, CPU) with shallow trees and subsampling."""
    from xgboost import XGBClassifier

    return Pipeline([
        ("scale", StandardScaler()),
        ("clf", XGBClassifier(n_estimators=n_estimators, max_depth=2, learning_rate=0.05, subsample=0.8,
                              colsample_bytree=0.3, tree_method="hist", n_jobs=n_jobs,
                              random_state=0 if random_state is None else random_state, verbosity=0)),
    ])
