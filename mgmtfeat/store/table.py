"""A feature store as one table: a row per case, a named column per feature.

Columns: ``case_id``, ``label`` (nullable integer), the case's scalar metadata (e.g. ``split``,
``file`` and ``record`` of the published features; ``layout``, ``box_source`` of extracted ones),
``NET:random_weights`` per net, then ``NET:MODALITY:FEATURE`` for every feature, FEATURE being the
net's own name of that output: the names its provenance records (``feature_names``, e.g. the
pyradiomics names ``original_firstorder_Mean`` of the radiomics net), else the Kinetics-400 class
name for the video nets (see :mod:`mgmtfeat.backbones.labels`), or its index where the net has no names.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat import MODALITIES, N_FEATURES

__all__ = ["feature_names", "feature_table", "write_table", "TABLE_FORMATS"]

log = logging.getLogger(__name__)

#: File suffix -> format written by :func:`write_table`.
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def feature_names(net: str) -> list[str]:
    """Names of the 400 outputs of ``net``: its class names, or ``"0"``...``"399"`` without any."""
    from mgmtfeat.backbones.labels import class_names

    names = class_names(net)
    if names is None:
        log.info("net %s has no class names; its features are numbered", net)
        return [str(i) for i in range(N_FEATURES)]
    return list(names)


def feature_table(store, nets: str | Sequence[str], modalities: Sequence[str] | None = None) -> pd.DataFrame:
    """The features of ``store`` as a DataFrame with one row per case (see the module docstring).

    Parameters
    ----------
    store : FeatureStore
    nets : str or sequence of str
        Nets whose features are exported; cases present for every net, in sorted id order.
    modalities : sequence of str, optional
        Inputs to export (default: all five).

    Returns
    -------
    pandas.DataFrame
        Shape (n_cases, 2 + n_metadata + n_nets + n_modalities * sum of the nets' n_features); unlabelled cases
        are kept (``label`` <NA>).
    """
    nets = [nets] if isinstance(nets, str) else list(nets)
    modalities = list(modalities or MODALITIES)
    data = store.load(nets, modalities, require_labels=False)
    meta = store.labels(nets[0]).set_index("case_id").loc[list(data.case_ids)]
    front = meta.drop(columns="label").reset_index()
    front.insert(1, "label", pd.array([None if y < 0 else int(y) for y in data.y], dtype="Int64"))
    for net in nets:
        front[f"{net}:random_weights"] = bool(store.provenance(net).get("random_weights", False))
    names = {net: store.provenance(net).get("feature_names") or feature_names(net) for net in nets}
    columns = [f"{net}:{m}:{name}" for net in nets for m in modalities for name in names[net]]
    values = pd.DataFrame(data.X2d.astype(np.float32), columns=columns)
    return pd.concat([front.reset_index(drop=True), values], axis=1)


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` (``.csv`` through pandas, ``.parquet`` through pyarrow) atomically."""
    import io

    from mgmtfeat._io import atomic_write_bytes

    path = Path(path)
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"--out {path}: unknown table format {path.suffix!r}; use a .csv or .parquet file name")
    buffer = io.BytesIO()
    if kind == "csv":
        frame.to_csv(buffer, index=False)
    else:
        try:
            import pyarrow  # noqa: F401  (pandas would otherwise name another engine in its error)
        except ImportError:
            raise ValueError(f"--out {path}: Parquet needs pyarrow; `pip install pyarrow` or write a .csv") from None
        frame.to_parquet(buffer, index=False, engine="pyarrow")
    atomic_write_bytes(path, buffer.getvalue())
    return path
