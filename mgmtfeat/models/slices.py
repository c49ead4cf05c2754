"""Which models can classify slices: one embedding per slice, so no model that splits its input by modality."""

from __future__ import annotations

__all__ = ["check_slice_model"]


def check_slice_model(name: str) -> None:
    """Refuse a model that splits its input into per-modality clip features (the SNNs).

    Raises
    ------
    ValueError
        ``name`` is such a model; the message names the models that fit slices.
    """
    from mgmtfeat.models import make_model

    if "input_size" in make_model(name).get_params():
        raise ValueError(f"--model {name} splits its input into the clip features of each modality; a slice has "
                         "one embedding: use logistic, svm, rf, xgboost or mlp")
