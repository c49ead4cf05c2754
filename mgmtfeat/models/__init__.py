"""Step 7, estimators and the model registry used by cross-validation.

Every model is a scikit-learn classifier on X of shape (n_cases, n_inputs * 400), so ``clone``,
``Pipeline`` and ``GridSearchCV`` work on all of them. ``make_model(name, random_state)`` builds one
by name; ``MODELS[name]`` also says which inputs it uses by default and its grid for nested CV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from mgmtfeat import MODALITIES
from mgmtfeat.models.classical import make_logistic, make_random_forest, make_svm, make_xgboost
from mgmtfeat.models.mlp import MLPClassifier
from mgmtfeat.models.snn import SNNClassifier

__all__ = ["MODELS", "ModelSpec", "input_params", "make_model", "models_help", "SNNClassifier", "MLPClassifier"]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model.

    Attributes
    ----------
    build : callable
        ``build(random_state) -> estimator``.
    description : str
        One line for ``--help`` and reports.
    modalities : tuple of str
        Inputs used when the user names none.
    param_grid : dict
        Hyper-parameter grid searched by ``--nested`` (keys as for ``GridSearchCV``).
    """

    build: Callable
    description: str
    modalities: tuple[str, ...] = MODALITIES
    param_grid: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "snn": ModelSpec(
        lambda rs: SNNClassifier(encoder="linear", shared=False, weight_decay=1e-2, input_dropout=0.5,
                                 n_members=5, random_state=rs),
        "SNN, one linear encoder per input, attention fusion, 5-member ensemble",
        param_grid={"weight_decay": [1e-3, 1e-2, 1e-1], "input_dropout": [0.2, 0.5]},
    ),
    "snn-siamese": ModelSpec(
        lambda rs: SNNClassifier(encoder="linear", shared=True, weight_decay=1e-2, input_dropout=0.5,
                                 n_members=5, random_state=rs),
        "SNN with one linear encoder shared by all inputs (Siamese), 5-member ensemble",
        param_grid={"weight_decay": [1e-3, 1e-2, 1e-1], "input_dropout": [0.2, 0.5]},
    ),
    "snn-conv": ModelSpec(
        lambda rs: SNNClassifier(encoder="conv", shared=True, weight_decay=1e-2, input_dropout=0.5,
                                 random_state=rs),
        "SNN as in the paper's supplement: shared 1-D conv residual encoder, attention fusion",
        param_grid={"weight_decay": [1e-3, 1e-2, 1e-1]},
    ),
    "mlp": ModelSpec(
        lambda rs: MLPClassifier(random_state=rs),
        "the paper's MLP baseline (100-32 units, dropout 0.4) on T1wCE",
        modalities=("t1ce",),
        param_grid={"weight_decay": [1e-4, 1e-2, 1e-1]},
    ),
    "logistic": ModelSpec(
        make_logistic, "standardised L2 logistic regression, C = 0.001",
        param_grid={"clf__C": [1e-4, 1e-3, 1e-2, 1e-1]},
    ),
    "svm": ModelSpec(
        make_svm, "RBF SVM on the 200 best ANOVA features",
        param_grid={"clf__estimator__C": [0.1, 1.0, 10.0], "select__k": [50, 200, "all"]},
    ),
    "rf": ModelSpec(
        make_random_forest, "random forest, 300 trees",
        param_grid={"clf__max_features": ["sqrt", 0.1]},
    ),
    "xgboost": ModelSpec(
        make_xgboost, "XGBoost, 200 depth-2 trees",
        param_grid={"clf__n_estimators": [100, 300], "clf__max_depth": [1, 2, 3]},
    ),
}


def models_help() -> str:
    """One line naming every registered model with its description (for a parser's epilog)."""
    return "models: " + "; ".join(f"{name}: {spec.description}" for name, spec in MODELS.items())


def make_model(name: str, random_state=None):
    """Build the named model (see ``MODELS``) with ``random_state``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name].build(random_state)


def input_params(name: str, params: dict | None, sizes) -> dict | None:
    """``params`` for model ``name`` on inputs of lengths ``sizes`` (one per input, in column order).

    For the models that split X into inputs (the SNN), unless the user set ``input_size``: inputs of
    different lengths (fused nets, e.g. I3D's 400 logits and 107 radiomics features) set it to the
    list of sizes, inputs of one length other than the model's default (radiomics alone) to that
    length. Classical models take the concatenation as it is. Otherwise ``params`` unchanged (so
    the cache keys of 400-feature runs stay the same).
    """
    sizes = [int(s) for s in sizes]
    if not sizes or "input_size" in (params or {}):
        return params
    default = make_model(name).get_params().get("input_size", "absent")
    if default == "absent":
        return params
    wanted = sizes if len(set(sizes)) > 1 else sizes[0]
    return params if wanted == default else {**(params or {}), "input_size": wanted}
