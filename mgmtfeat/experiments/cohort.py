"""The cohort a study runs on: the feature store, the nets and inputs it holds, and its shared folds.

:func:`open_cohort` is the first step of every experiment (:mod:`mgmtfeat.experiments.base`); the
cross-validation studies (``mgmtfeat cv``) use :func:`open_store`, :func:`shared_folds` and
:func:`describe_features` directly. An input is named ``"net:modality"`` (:func:`net_inputs`), as in
:class:`mgmtfeat.store.FeatureSet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from mgmtfeat import MODALITIES
from mgmtfeat._io import atomic_write_text
from mgmtfeat.evaluation import check_group_folds, folds_key, load_folds, make_folds
from mgmtfeat.store import FeatureSet, FeatureStore

__all__ = ["ExperimentError", "Cohort", "open_store", "shared_folds", "open_cohort", "describe_features",
           "is_random_net", "available_modalities", "net_inputs", "pick_net"]


class ExperimentError(ValueError):
    """An experiment cannot run on the given features (something must be extracted first)."""


@dataclass
class Cohort:
    """The features an experiment cross-validates on, with the store's saved folds.

    Attributes
    ----------
    store : FeatureStore
        Where the features are read from (and the folds saved).
    nets : list of str
        The nets compared or used, in the store's order.
    data : FeatureSet
        Every input ``"net:modality"`` of ``nets`` for the n cases they share; ``data.y`` has shape (n,).
    folds : pandas.DataFrame
        The fold table, one row per (case, repeat): ``case_id``, ``label``, ``repeat``, ``fold`` (the
        case's test fold in that repeat) (:func:`mgmtfeat.evaluation.make_folds`).
    folds_path : Path or None
        Where the fold table is saved (None when the store is read-only).
    label : str
        What the features are, for every title (:func:`describe_features`).
    """

    store: FeatureStore
    nets: list[str]
    data: FeatureSet
    folds: pd.DataFrame
    folds_path: Path | None
    label: str


def open_store(features: str | None, published_source: str | None = None) -> FeatureStore:
    """The store at ``features``, or the published ViViT features when ``features`` is None."""
    if features is None:
        from mgmtfeat.store.published import published_store

        return published_store(published_source)
    return FeatureStore(features)


def shared_folds(store: FeatureStore, data: FeatureSet, n_splits: int, n_repeats: int, seed: int,
                 folds_file: str | None = None, groups=None, group_column: str | None = None,
                 leave_one_group_out: bool = False) -> tuple[pd.DataFrame, Path | None]:
    """Fold table shared by every run on the same cases, saved in the store's ``folds/`` folder.

    Named by :func:`~mgmtfeat.evaluation.folds_key` (K, repeats, seed, grouping, a digest of the cohort),
    so every model and ablation on the same cases reuses one assignment. A ``folds_file`` must honour
    the grouping too. Returns the table and its path (None when the store is not writable).
    """
    if folds_file:
        table = load_folds(folds_file, data.case_ids)
        if groups is not None:
            check_group_folds(table, dict(zip(data.case_ids, groups)))
        return table, Path(folds_file)
    path = store.folds_path(folds_key(data.case_ids, data.y, n_splits, n_repeats, seed, group_column, groups,
                                      leave_one_group_out))
    if path.is_file():
        return load_folds(path, data.case_ids), path
    folds = make_folds(data.case_ids, data.y, n_splits, n_repeats, seed, groups, leave_one_group_out)
    try:
        atomic_write_text(path, folds.to_csv(index=False))
    except OSError:
        return folds, None
    return folds, path


def is_random_net(store: FeatureStore, net: str) -> bool:
    """Whether the features of ``net`` come from untrained, random weights (its provenance says so)."""
    return bool(store.provenance(net).get("random_weights"))


def describe_features(store: FeatureStore, nets: Sequence[str]) -> str:
    """One line naming the features, flagging random-weight nets (used in every title)."""
    random = [n for n in nets if is_random_net(store, n)]
    published = all(str(store.provenance(n).get("source", "")).startswith("published") for n in nets)
    text = "published ViViT features" if published else f"{', '.join(nets)} features ({store.root.name})"
    if random:
        text += f" | RANDOM-WEIGHT nets: {', '.join(random)} (untrained, pipeline check only)"
    return text


def available_modalities(store: FeatureStore, net: str) -> list[str]:
    """Modalities stored for ``net`` (read from its first case), in canonical order."""
    ids = store.case_ids(net)
    if not ids:
        raise ExperimentError(f"store {store.root} has no cases of net {net!r}; extract them first.")
    features, _, _ = store.read_case(net, ids[0])
    return [m for m in MODALITIES if m in features]


def open_cohort(settings, nets: Sequence[str] | None = None, modalities: Sequence[str] | None = None,
                min_nets: int = 1, store: FeatureStore | None = None) -> Cohort:
    """Open the store of ``settings``, load the features of ``nets`` and the folds they share.

    Parameters
    ----------
    settings : ExperimentSettings
        Its store (``features``, ``published_source``) and folds (``folds``, ``repeats``, ``seed``).
    nets : sequence of str or None
        Nets to load; None = every net in the store.
    modalities : sequence of str or None
        Modalities to load; None = those every net of ``nets`` has.
    min_nets : int
        Fewest nets the experiment compares.
    store : FeatureStore or None
        An open store to use instead of the one ``settings`` names.

    Raises
    ------
    ExperimentError
        The store is empty, lacks a net, or holds fewer than ``min_nets``; the message says what to extract.
    """
    store = store or open_store(settings.features, settings.published_source)
    present = store.nets()
    if not present:
        raise ExperimentError(
            f"feature store {store.root} holds no features; extract them first with "
            f"`mgmtfeat extract --data DIR --out {store.root}`."
        )
    nets = list(nets or present)
    missing = [n for n in nets if n not in present]
    if missing:
        raise ExperimentError(
            f"store {store.root} has no features of net(s) {', '.join(missing)} (present: {', '.join(present)}); "
            f"extract them first with `mgmtfeat extract --data DIR --out {store.root} --net {missing[0]}`."
        )
    if len(nets) < min_nets:
        raise ExperimentError(
            f"this experiment compares at least {min_nets} nets, but store {store.root} holds only "
            f"{', '.join(nets)}; extract another net into it first, e.g. `mgmtfeat extract --data DIR "
            f"--out {store.root} --net {'r2plus1d' if 'r2plus1d' not in nets else 'i3d'}` (add `--weights random` "
            "for a quick pipeline check)."
        )
    if modalities is None:
        modalities = [m for m in MODALITIES if all(m in available_modalities(store, n) for n in nets)]
    data = store.load(nets, modalities)
    folds, path = shared_folds(store, data, settings.folds, settings.repeats, settings.seed)
    return Cohort(store, nets, data, folds, path, describe_features(store, nets))


def net_inputs(net: str, modalities: Sequence[str]) -> list[str]:
    """The input names ``"net:modality"`` of ``net``'s ``modalities``, as a FeatureSet selects them."""
    return [f"{net}:{m}" for m in modalities]


def pick_net(cohort: Cohort, net: str | None) -> str:
    """``net``, or the cohort's first net when None; ExperimentError when the store lacks it."""
    net = net or cohort.nets[0]
    if net not in cohort.nets:
        raise ExperimentError(f"net {net!r} is not in store {cohort.store.root} (present: {', '.join(cohort.nets)})")
    return net
