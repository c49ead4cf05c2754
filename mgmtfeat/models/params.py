"""Model hyper-parameters by the names users know: ``C`` of ``logistic`` reaches its pipeline's ``clf__C``.

A registered model is either an estimator (the SNN, the MLP) or a scikit-learn ``Pipeline`` whose
steps hold the classifier (``clf``), scaling and selection. ``set_params`` wants the inner name
(``clf__C``, ``clf__estimator__C``); people type the estimator's own name (``C``). A name is
resolved as scikit-learn would read it first, then with dots for the double underscores
(``clf.C``), then as the last part of exactly one inner name.

>>> from mgmtfeat.models import make_model
>>> resolve_name(make_model("logistic"), "C")
'clf__C'
"""

from __future__ import annotations

from typing import Any

__all__ = ["public_params", "resolve_name", "effective_params"]

#: Parameters of a ``Pipeline`` itself, not of the model it holds.
_PIPELINE_OWN = ("steps", "memory", "verbose", "transform_input")


def _user_keys(estimator) -> dict[str, Any]:
    """``get_params()`` without the step objects and the pipeline's own plumbing."""
    from sklearn.pipeline import Pipeline

    params = estimator.get_params()
    steps = set(estimator.named_steps) if isinstance(estimator, Pipeline) else set()
    return {k: v for k, v in params.items()
            if not hasattr(v, "get_params") and k not in steps and not (steps and k in _PIPELINE_OWN)}


def public_params(estimator) -> dict[str, str]:
    """``{name a user may type: inner name}``: the last part of each inner name where it is unique.

    Parameters
    ----------
    estimator : sklearn estimator
        A model of :data:`mgmtfeat.models.MODELS`.

    Returns
    -------
    dict of str to str
        E.g. ``{"C": "clf__C", "max_iter": "clf__max_iter", "with_mean": "scale__with_mean", ...}``;
        a last part shared by two steps (``n_jobs``) keeps its inner names only.
    """
    keys = list(_user_keys(estimator))
    leaves: dict[str, list[str]] = {}
    for key in keys:
        leaves.setdefault(key.rsplit("__", 1)[-1], []).append(key)
    return {leaf: full[0] for leaf, full in sorted(leaves.items()) if len(full) == 1}


def resolve_name(estimator, name: str) -> str:
    """The inner name ``set_params`` takes for the parameter a user calls ``name``.

    Raises
    ------
    ValueError
        No parameter of that name (the message lists the accepted names), or a name that ends
        more than one inner name (the message lists them).
    """
    known = estimator.get_params()
    users = _user_keys(estimator)
    if name in users:
        return name
    dotted = name.replace(".", "__")
    if dotted in users:
        return dotted
    matches = [k for k in users if k.endswith("__" + name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"{name!r} names several parameters ({', '.join(matches)}); give one of these names")
    if name in known and not hasattr(known[name], "get_params"):  # the pipeline's own (memory, verbose)
        return name
    accepted = ", ".join(public_params(estimator))
    inner = sorted(k for k in users if "__" in k)
    also = f" (or an inner name such as {inner[0]})" if inner else ""
    raise ValueError(f"no parameter {name!r}; accepted names: {accepted}{also}")


def effective_params(estimator) -> dict[str, Any]:
    """The parameters a fit of ``estimator`` uses, by the names of :func:`public_params` (inner names where shared).

    Values that JSON cannot hold (a class, a function) are given as their text.
    """
    public = {full: short for short, full in public_params(estimator).items()}
    out = {}
    for key, value in sorted(_user_keys(estimator).items()):
        if not isinstance(value, (str, int, float, bool, type(None), list, tuple, dict)):
            value = repr(value)
        out[public.get(key, key)] = list(value) if isinstance(value, tuple) else value
    return out
