"""Save and load fitted estimators without running arbitrary code on load.

scikit-learn pipelines (logistic, SVM, random forest, XGBoost) go through skops, whose loader
refuses every type that is not on an explicit list; the list here holds exactly the types the
package's own pipelines need, so a tampered file naming any other type is refused. The torch
estimators (SNN, MLP) are written as safetensors (tensors only) plus a JSON file of their
parameters and fitted attributes, and rebuilt from their class on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mgmtfeat._io import atomic_write_bytes, atomic_write_text

__all__ = ["ModelFileError", "save_estimator", "load_estimator", "torch_classes", "TRUSTED_TYPES"]

#: Types outside skops' default trust that the package's pipelines contain.
TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.tree._tree.Tree",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
)
_TORCH_FORMAT = "mgmtfeat-torch-estimator/1"


class ModelFileError(ValueError):
    """A model file that is missing, damaged, or holds types that are not trusted."""


def torch_classes() -> dict[str, type]:
    """The torch estimator classes this module saves and loads, by the name written into their JSON file.

    A new torch model (a subclass of ``TorchClassifier``) is added here; until it is, saving it raises.
    """
    from mgmtfeat.models.mlp import MLPClassifier
    from mgmtfeat.models.snn import SNNClassifier

    return {"SNNClassifier": SNNClassifier, "MLPClassifier": MLPClassifier}


def _is_torch(estimator) -> bool:
    """Whether ``estimator`` holds a torch network (a ``TorchClassifier``, or a fitted ``module_`` of torch)."""
    from mgmtfeat.models.torch_classifier import TorchClassifier

    if isinstance(estimator, TorchClassifier):
        return True
    module = getattr(estimator, "module_", None)
    if module is None:
        return False
    import torch

    return isinstance(module, torch.nn.Module)


def _torch_name(estimator) -> str:
    """The name :func:`torch_classes` knows ``estimator``'s exact class by; raise for an unknown torch class."""
    for name, cls in torch_classes().items():
        if type(estimator) is cls:
            return name
    cls = type(estimator)
    raise ModelFileError(f"{cls.__module__}.{cls.__qualname__} is a torch model that mgmtfeat cannot save: skops "
                         "would pickle its network. Add the class to mgmtfeat.models.persistence.torch_classes() "
                         "(and, if its network differs from TorchClassifier's, teach _save_torch/_load_torch to "
                         "rebuild it).")


def save_estimator(estimator, folder: str | Path, name: str) -> list[Path]:
    """Write a fitted estimator into ``folder`` as ``name.skops`` or ``name.safetensors`` + ``name.json``.

    Returns the paths written. A ``GridSearchCV`` is saved as its refitted best estimator.

    Raises
    ------
    ModelFileError
        A torch model whose class :func:`torch_classes` does not list (it is never pickled through skops).
    """
    estimator = getattr(estimator, "best_estimator_", estimator)
    folder = Path(folder)
    if _is_torch(estimator):
        return _save_torch(estimator, folder, name)
    import skops.io as sio

    path = folder / f"{name}.skops"
    atomic_write_bytes(path, sio.dumps(estimator))
    return [path]


def load_estimator(folder: str | Path, name: str):
    """Load what :func:`save_estimator` wrote under ``name``.

    Raises
    ------
    ModelFileError
        Neither file exists, a file is damaged, or a skops file names an untrusted type.
    """
    folder = Path(folder)
    if (folder / f"{name}.json").is_file():
        return _load_torch(folder, name)
    path = folder / f"{name}.skops"
    if not path.is_file():
        raise ModelFileError(f"{folder}: no model file {name}.skops or {name}.json; the model folder is incomplete, "
                             "fit the model again.")
    import skops.io as sio

    data = path.read_bytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as err:  # skops raises several types for a damaged zip
        raise ModelFileError(f"{path}: not a readable skops file ({err}); fit the model again.") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise ModelFileError(f"{path}: refers to types that mgmtfeat's models never contain ({', '.join(refused)}); "
                             "it was not written by mgmtfeat or was altered. Not loaded.")
    return sio.loads(data, trusted=list(untrusted))


def _save_torch(estimator, folder: Path, name: str) -> list[Path]:
    from safetensors.torch import save

    class_name = _torch_name(estimator)  # an unknown class raises before anything is written

    state = {f"module.{k}": v.detach().contiguous() for k, v in estimator.module_.state_dict().items()}
    import torch

    state["mean"], state["scale"] = torch.from_numpy(estimator.mean_), torch.from_numpy(estimator.scale_)
    classes = estimator.classes_.tolist()
    meta = {
        "format": _TORCH_FORMAT, "class": class_name, "params": estimator.get_params(),
        "classes": classes, "n_inputs": int(estimator.n_inputs_), "n_features_in": int(estimator.n_features_in_),
        "n_members": len(estimator.history_), "best_epoch": estimator.best_epoch_, "n_epochs": estimator.n_epochs_,
    }
    tensors, text = folder / f"{name}.safetensors", folder / f"{name}.json"
    atomic_write_bytes(tensors, save(state))
    atomic_write_text(text, json.dumps(meta, indent=2))
    return [tensors, text]


def _load_torch(folder: Path, name: str):
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from mgmtfeat.models.torch_classifier import average_members

    text, tensors = folder / f"{name}.json", folder / f"{name}.safetensors"
    try:
        meta = json.loads(text.read_text())
        state = load_file(tensors)
    except (OSError, ValueError, SafetensorError) as err:
        raise ModelFileError(f"{folder}: cannot read {name}.json / {name}.safetensors ({err}); fit the model again.") from None
    classes = torch_classes()
    if meta.get("format") != _TORCH_FORMAT or meta.get("class") not in classes:
        raise ModelFileError(f"{text}: not an mgmtfeat torch estimator (format {meta.get('format')!r}, class "
                             f"{meta.get('class')!r}); fit the model again.")
    estimator = classes[meta["class"]](**meta["params"])
    estimator.classes_ = np.asarray(meta["classes"])
    estimator.n_inputs_, estimator.n_features_in_ = meta["n_inputs"], meta["n_features_in"]
    estimator.best_epoch_, estimator.n_epochs_ = meta["best_epoch"], meta["n_epochs"]
    estimator.mean_, estimator.scale_ = state.pop("mean").numpy(), state.pop("scale").numpy()
    n_outputs = 1 if len(estimator.classes_) == 2 else len(estimator.classes_)
    sizes = estimator.input_size  # per-input sizes (fused nets of other lengths): branches padded to the longest
    input_size = max(sizes) if isinstance(sizes, (list, tuple)) else estimator.n_features_in_ // estimator.n_inputs_
    if estimator._stackable():  # weights are overwritten below: the generators only shape the network
        generators = [torch.Generator() for _ in range(meta["n_members"])]
        module = estimator._build_stack(generators, estimator.n_inputs_, input_size, n_outputs)
    else:
        module = average_members([estimator._build_module(estimator.n_inputs_, input_size, n_outputs)
                           for _ in range(meta["n_members"])])
    try:
        module.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{tensors}: weights do not fit the network described in {text.name} ({err}).") from None
    estimator.module_ = module.eval()
    return estimator
