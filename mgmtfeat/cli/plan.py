"""``--dry-run``: what a command would do, as text, reading its inputs and writing nothing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)

__all__ = ["cv_plan", "dataset_plan", "export_plan", "published_plan", "synthetic_plan"]

_SHOW = 10  # case ids listed per line before "..."


def _ids(ids: Sequence[str]) -> str:
    ids = list(ids)
    return ", ".join(ids[:_SHOW]) + (f", ... ({len(ids)} in all)" if len(ids) > _SHOW else "") if ids else "none"


def _out_line(out: str | Path | None, force: bool, kind: str = "results folder") -> str:
    if out is None:
        return f"{kind}: a new timestamped folder"
    if Path(out).exists():
        return f"{kind} {out}: exists; " + ("would be replaced (--force)" if force else "refused without --force")
    return f"{kind} {out}: would be created"


def dataset_plan(refs, done: Callable[[str], bool], out: str, what: str, extra: Sequence[str] = ()) -> str:
    """Cases of a dataset folder: layout, labels, files missing on disk, cases ``done`` already.

    Parameters
    ----------
    refs : list of CaseRef
        From :func:`mgmtfeat.data.layouts.find_cases`.
    done : callable
        ``done(case_id)``: True when the case would be skipped (already in the store / output).
    out : str
        The output, named in the text.
    what : str
        What is made per case (``"i3d features"``, ``"clips"``).
    extra : list of str
        Lines to add before the closing one (``extract`` with several nets: one per net).
    """
    layouts = sorted({r.layout for r in refs})
    skipped = [r.case_id for r in refs if done(r.case_id)]
    missing = []
    for ref in refs:
        absent = [f"{m}: {p}" for m, p in ref.paths.items() if m != "seg" and not p.exists()]
        if absent:
            missing.append(f"  {ref.case_id}: missing {'; '.join(absent)}")
    unlabelled = [r.case_id for r in refs if r.label is None]
    lines = [
        f"{len(refs)} cases found, layout {', '.join(layouts)}: {_ids([r.case_id for r in refs])}",
        f"labels: {len(refs) - len(unlabelled)} labelled, {len(unlabelled)} without a label",
        f"segmentation: {sum('seg' in r.paths and r.paths['seg'].exists() for r in refs)} of {len(refs)} cases",
        f"already in {out} (would be skipped): {len(skipped)}: {_ids(skipped)}",
        f"would make {what} for {len(refs) - len(skipped)} cases into {out}",
        f"cases with missing files (would fail): {len(missing)}", *missing, *extra,
        "dry run: nothing written",
    ]
    return "\n".join(lines)


def cv_plan(features, published_source, nets, models, modalities, folds: int, repeats: int, seed: int,
            folds_file, out, force: bool) -> str:
    """Cases, classes, folds and models a ``cv`` run would use, without fitting or writing anything."""
    import numpy as np

    from mgmtfeat._io import cache_dir
    from mgmtfeat.models import MODELS
    from mgmtfeat.store import FeatureStore

    if features is None:
        store = FeatureStore(cache_dir() / "published-vivit")
        if not store.nets():
            return "\n".join([
                f"features: the published ViViT features, not yet imported into {store.root}; the run would "
                f"import them first (from {published_source or 'the user cache or a download'})",
                *(f"model {m}: {MODELS[m].description}" for m in models),
                _out_line(out, force), "dry run: nothing written"])
    else:
        store = FeatureStore(features)
    data = store.load(list(nets))
    counts = np.bincount(data.y, minlength=2)
    lines = [f"features: {store.root}, nets {', '.join(nets)}",
             f"{len(data.y)} labelled cases: {counts[0]} unmethylated (0), {counts[1]} methylated (1)",
             f"folds: {repeats} x {folds}-fold stratified, seed {seed}"
             + (f", from {folds_file}" if folds_file else "")]
    for model in models:
        inputs = [f"{n}:{m}" for n in nets for m in (modalities or MODELS[model].modalities)]
        lines.append(f"model {model}: {MODELS[model].description}; inputs {', '.join(inputs)}")
    lines += [_out_line(out, force), "dry run: nothing written"]
    return "\n".join(lines)


def published_plan(source, out: str, net: str, force: bool) -> str:
    """Where the published files would come from and whether the store already holds them."""
    from mgmtfeat._io import cache_dir
    from mgmtfeat.store import FeatureStore
    from mgmtfeat.store.published import PUBLISHED_FILES

    folder = Path(source) if source else cache_dir() / "published"
    lines = []
    for name in PUBLISHED_FILES:
        path = folder / name
        lines.append(f"{name}: {'found in' if path.is_file() else 'missing from'} {folder}"
                     + ("" if path.is_file() or source else " (would be downloaded)"))
    held = len(FeatureStore(out).case_ids(net))
    if held:
        lines.append(f"store {out} already holds {held} {net} cases: "
                     + ("would be re-imported (--force)" if force else "refused without --force"))
    else:
        lines.append(f"store {out}: would receive the 577 published cases under net {net}")
    return "\n".join([*lines, "dry run: nothing written"])


def synthetic_plan(out: str, layout: str, cases: int, shape, seed: int) -> str:
    """The cohort ``synthetic`` would write, and whether its folder is free."""
    path = Path(out)
    busy = path.exists() and (not path.is_dir() or any(path.iterdir()))
    return "\n".join([
        f"would write {cases} {layout} cases ({cases // 2} methylated), volumes of {tuple(shape)} voxels, seed {seed}",
        f"dataset folder {out}: " + ("not empty; refused" if busy else "free"),
        "dry run: nothing written"])


def export_plan(store, nets, modalities, out, force: bool) -> str:
    """Rows and columns ``export`` would write."""
    from mgmtfeat.store.table import feature_names

    common = sorted(set.intersection(*(set(store.case_ids(n)) for n in nets)))
    n_columns = sum(len(feature_names(n)) for n in nets) * len(modalities)
    lines = [f"store {store.root}: {len(common)} cases present for {', '.join(nets)}",
             f"would write {len(common)} rows: case_id, label, case metadata, {len(nets)} random_weights flag(s) "
             f"and {n_columns} feature columns NET:MODALITY:FEATURE ({', '.join(modalities)})",
             _out_line(out, force, kind="table"), "dry run: nothing written"]
    return "\n".join(lines)
