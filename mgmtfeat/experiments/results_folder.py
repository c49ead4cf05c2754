"""A results folder written whole or not at all, shared by the experiments and the cross-validation studies.

A run writes into a temporary sibling ``.NAME.partial`` (:func:`prepare_out`) and renames it to
``NAME`` at the end (:func:`finish_out`), so a failed or killed run leaves nothing half-written under
the requested name. An existing folder is replaced only with ``force``, and never when it is, or
contains, an input (:func:`check_out_apart`). The partial folder keeps the finished folds of a failed
or killed run (:mod:`mgmtfeat.experiments.fold_cache`), so the same command resumes from them;
everything else in it is removed on failure (:func:`discard_partial`).

The order of calls::

    out = check_out_folder(settings)      # before anything is read: refuse early
    ...                                   # open the cohort, cross-validate
    tmp = prepare_out(out, settings.force)
    ...                                   # write tables and figures into tmp
    finish_out(tmp, out)                  # or discard_partial(tmp) after a failure
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

from mgmtfeat.experiments.fold_cache import CACHE_DIR

__all__ = ["check_out_folder", "check_out_apart", "input_folders", "partial_path", "prepare_out", "discard_partial",
           "finish_out"]


def check_out_apart(out: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse a results folder that is, or contains, one of ``inputs`` (``{what: path}``; None skipped).

    ``--force`` replaces the results folder, and a run replaces its ``.NAME.partial`` sibling: either
    would delete the input. Checked before anything is deleted or written.

    Raises
    ------
    ValueError
        Naming the option, the input and a folder to choose instead.
    """
    out = Path(out)
    for folder in (out, partial_path(out)):
        mine = folder.resolve()
        for what, path in inputs.items():
            if path is None:
                continue
            theirs = Path(path).resolve()
            if mine == theirs or mine in theirs.parents:
                raise ValueError(
                    f"--out {out} {'is' if mine == theirs else 'contains'} the {what} {path}; the results folder "
                    "is replaced as a whole (--force), which would delete it. Choose an --out folder that holds "
                    "no input, e.g. results/NAME."
                )


def partial_path(out: Path) -> Path:
    """The temporary sibling ``.NAME.partial`` a results folder ``out`` is written into."""
    return out.with_name(f".{out.name}.partial")


def input_folders(features: str | None, published_source: str | None) -> dict[str, str | Path | None]:
    """The folders a run reads, ``{what: path}`` for :func:`check_out_apart`.

    The feature store (the published features' cached store when ``features`` is None) and the
    offline folder of the published files.
    """
    from mgmtfeat.store.published import published_root

    return {"feature store": features if features is not None else published_root(),
            "published source": published_source}


def check_out_folder(settings) -> Path:
    """The results folder ``settings.out``, checked before the run reads anything.

    Parameters
    ----------
    settings : ExperimentSettings
        Its ``out``, ``force``, ``features`` and ``published_source`` are read.

    Raises
    ------
    FileExistsError
        ``out`` exists and ``force`` is not set.
    ValueError
        ``out`` is, or contains, an input (:func:`check_out_apart`).
    """
    out = Path(settings.out)
    if out.exists() and not settings.force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    check_out_apart(out, input_folders(settings.features, settings.published_source))
    return out


def prepare_out(out: Path, force: bool) -> Path:
    """The temporary sibling of ``out`` to write into, emptied but for the fold cache of an earlier try.

    Refuses an existing ``out`` without ``force`` (FileExistsError).
    """
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    tmp = partial_path(out)
    _empty(tmp, keep=CACHE_DIR)
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def _empty(folder: Path, keep: str | None = None) -> None:
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name != keep:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def discard_partial(tmp: Path) -> None:
    """After a failure: remove ``tmp`` but for the finished folds (all of it when there are none)."""
    _empty(tmp, keep=CACHE_DIR)
    cache = tmp / CACHE_DIR
    if not (cache.is_dir() and any(cache.iterdir())):
        shutil.rmtree(tmp, ignore_errors=True)


def finish_out(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished temporary folder ``tmp`` (its fold cache is no longer needed)."""
    shutil.rmtree(tmp / CACHE_DIR, ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
