"""What a nested cross-validation chose: ``best_params.csv`` and the lines that say the run was nested.

With ``--nested`` every outer training fold runs an inner grid search (see
:func:`mgmtfeat.experiments.base.make_estimator_factory`); the parameters it chose differ from
fold to fold, so they are written per (model, repeat, fold), by the names users know (``C``, not
``clf__C``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

__all__ = ["BEST_PARAMS_FILE", "INNER_CV", "nested_section"]

BEST_PARAMS_FILE = "best_params.csv"
#: How the inner search scores its candidates (as built by make_estimator_factory).
INNER_CV = "inner 3-fold stratified CV of each outer training fold, scored by AUC, refitted on the whole training fold"


def _public_columns(model: str, table: pd.DataFrame) -> pd.DataFrame:
    """Rename inner names (``clf__C``) to the names users know (``C``) where the model has one."""
    from mgmtfeat.models import make_model
    from mgmtfeat.models.params import public_params

    short = {inner: name for name, inner in public_params(make_model(model)).items()}
    return table.rename(columns=lambda c: short.get(c, c))


def _grid(model: str) -> dict:
    from mgmtfeat.models import MODELS, make_model
    from mgmtfeat.models.params import public_params

    short = {inner: name for name, inner in public_params(make_model(model)).items()}
    return {short.get(k, k): list(v) for k, v in MODELS[model].param_grid.items()}


def nested_section(folder: Path, nested: bool, chosen: Sequence[pd.DataFrame], models: Sequence[str] = ()) -> dict:
    """Write ``best_params.csv`` of a nested run; return its ``summary.json`` record and ``summary.md`` text.

    Parameters
    ----------
    folder : Path
        The results folder being written.
    nested : bool
        Whether the run chose hyper-parameters by an inner search (``--nested``).
    chosen : sequence of pandas.DataFrame
        Per model searched: ``model``, ``repeat``, ``fold`` and one column per inner parameter name
        (``CVResult.extras["best_params"]`` with the model added).
    models : sequence of str
        Every model of the run (those without a grid are named as fitted with fixed parameters).

    Returns
    -------
    dict
        ``{"record": {...}, "text": markdown}``; for a run that is not nested, ``{"nested": False}`` and
        one line saying so.
    """
    if not nested:
        return {"record": {"nested": False},
                "text": "Hyper-parameters: fixed (not nested; `--nested` chooses them per outer fold).\n\n"}
    parts = [_public_columns(str(t["model"].iloc[0]), t) for t in chosen]
    searched = [str(t["model"].iloc[0]) for t in chosen]
    fixed = [m for m in models if m not in searched]
    text = f"Nested cross-validation: hyper-parameters chosen in each outer fold by an {INNER_CV}"
    if parts:
        table = pd.concat(parts, ignore_index=True)
        table = table[["model", "repeat", "fold", *[c for c in table.columns if c not in ("model", "repeat", "fold")]]]
        table.to_csv(folder / BEST_PARAMS_FILE, index=False)
        text += f"; the choice of every fold is in `{BEST_PARAMS_FILE}`. Grids: " + "; ".join(
            f"{m}: " + ", ".join(f"{k} in {v}" for k, v in _grid(m).items()) for m in searched)
    if fixed:
        text += f". No grid, fitted with fixed parameters: {', '.join(fixed)}"
    record = {"nested": True, "inner_cv": INNER_CV, "grids": {m: _grid(m) for m in searched},
              "best_params_file": BEST_PARAMS_FILE if parts else None, "fixed": fixed}
    return {"record": record, "text": text + ".\n\n"}
