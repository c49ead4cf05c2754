"""Resuming cross-validation: each finished (model, repeat, fold) is kept on disk until the results are.

A results folder is written under ``.NAME.partial`` (see :mod:`mgmtfeat.experiments.results_folder`). Its
``fold-cache/`` subfolder holds one ``MODEL-fold-rR-kK-DIGEST.npz`` per finished fold: the held-out
probabilities, the fit seconds, the attention weights and the parameters a nested search chose, written atomically as each fold finishes.
``DIGEST`` covers everything that shapes the fold's numbers (the feature matrix, labels and case ids,
the model, its parameters, nested or not, the seed, the fold's training and test rows and the package
versions), so a fold is reused only by the same computation; anything else misses and is fitted. Run
the same command again after a kill or a failure and only the missing folds are fitted; the
probabilities are read back bit for bit, so the metrics equal an uninterrupted run's. The cache is
deleted when the results folder is complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from mgmtfeat._io import atomic_write_bytes

__all__ = ["CACHE_DIR", "FoldCache", "computation_key", "explain_partial"]

log = logging.getLogger(__name__)

#: Name of the fold cache inside a ``.NAME.partial`` folder.
CACHE_DIR = "fold-cache"


def computation_key(X: np.ndarray, y: np.ndarray, case_ids: Sequence[str], model: str, params: Mapping | None,
                    nested: bool, seed: int, versions: Mapping[str, str]) -> str:
    """Hex sha256 of what shapes every fold of one model's cross-validation (the fold rows aside)."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update("\n".join(case_ids).encode())
    digest.update(json.dumps({"model": model, "params": dict(params or {}), "nested": bool(nested), "seed": int(seed),
                              "versions": dict(versions)}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def explain_partial(err: BaseException, tmp: Path) -> None:
    """Add to a system error (a full disk, ...) what became of the results folder ``tmp`` (``.NAME.partial``).

    Called after the failed run kept its finished folds (``tmp`` exists) or removed ``tmp`` (none had
    finished); the note says which, how to resume and how to start over, and the command line prints it
    after the error (``__notes__``, as Python 3.11's ``add_note`` keeps them).
    """
    if not isinstance(err, OSError):
        return
    cache = tmp / CACHE_DIR
    if tmp.exists():
        n_folds = sum(1 for _ in cache.glob("*.npz")) if cache.is_dir() else 0
        note = (f"Writing into {tmp}/ (the results folder until it is complete). It is kept with the {n_folds} "
                f"finished fold(s) in {cache}/: run the same command again to resume from them (only the missing "
                f"folds are fitted), or delete {tmp}/ to start over.")
    else:
        note = (f"Writing into {tmp}/ (the results folder until it is complete); no fold had finished, so it was "
                "removed: run the same command again to start over.")
    err.__notes__ = [*getattr(err, "__notes__", []), note]


class FoldCache:
    """An executor that reuses the cached outputs of fold tasks and caches the new ones.

    It wraps the executor that runs the folds (:mod:`mgmtfeat._parallel`) for
    :func:`mgmtfeat.evaluation.cross_validate`, whose task items are ``(train rows, test rows,
    seed, keep the model)`` and whose outputs are ``(probabilities, fit seconds, attention weights or
    None, the model or None, the chosen parameters or None)``. ``reused_names`` lists the folds read
    back from the cache (``fold-r0-k1``), for the run to say what it resumed. A fold whose fitted model is kept (for a held-out test) is always
    fitted: the cache holds numbers, not models.

    Parameters
    ----------
    inner : Executor
        Runs the folds that are not cached (left open).
    folder : Path
        The fold cache folder (created on the first write).
    model : str
        Model name, the start of each file name.
    key : str
        :func:`computation_key` of the model's cross-validation.
    """

    def __init__(self, inner, folder: Path, model: str, key: str):
        self.inner, self.folder, self.model, self.key = inner, Path(folder), model, key
        self.threads_per_worker = getattr(inner, "threads_per_worker", None)
        self.reused = 0
        self.reused_names: list[str] = []

    def __enter__(self) -> "FoldCache":
        return self

    def __exit__(self, *exc) -> None:
        pass  # the inner executor belongs to the caller

    def close(self) -> None:
        pass

    def _path(self, item, name: str) -> tuple[Path, str]:
        train, test, seed = item[:3]
        digest = hashlib.sha256(self.key.encode())
        for rows in (train, test):
            digest.update(np.asarray(rows, np.int64).tobytes() + b"|")
        digest.update(str(int(seed)).encode())
        full = digest.hexdigest()
        return self.folder / f"{self.model}-{name}-{full[:16]}.npz", full

    def map(self, fn: Callable, items: Sequence, *, shared: Mapping[str, Any] | None = None,
            names: Sequence[str] | None = None) -> Iterator[tuple[int, Any]]:
        names = list(names) if names is not None else [f"task{i}" for i in range(len(items))]
        paths = [self._path(item, name) for item, name in zip(items, names)]
        pending = []
        for index, (path, full) in enumerate(paths):
            output = None if items[index][3] else _read(path, full)
            if output is None:
                pending.append(index)
            else:
                self.reused += 1
                self.reused_names.append(names[index])
                yield index, output
        if not pending:
            return
        for position, output in self.inner.map(fn, [items[i] for i in pending], shared=shared,
                                               names=[names[i] for i in pending]):
            index = pending[position]
            if output[3] is None:
                _write(*paths[index], output)
            yield index, output


def _write(path: Path, full: str, output) -> None:
    p, seconds, weights, _, *chosen = output
    arrays = {"key": np.array(full), "p": np.asarray(p), "seconds": np.array(float(seconds))}
    if weights is not None:
        arrays["weights"] = np.asarray(weights)
    if chosen and chosen[0] is not None:  # JSON text, so the cache never needs pickles
        arrays["chosen"] = np.array(json.dumps(chosen[0], sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _read(path: Path, full: str):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != full:
                return None
            chosen = json.loads(str(npz["chosen"])) if "chosen" in npz.files else None
            return npz["p"], float(npz["seconds"]), (npz["weights"] if "weights" in npz.files else None), None, chosen
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("%s: damaged cached fold (%s); fitting it again", path, err)
        return None
