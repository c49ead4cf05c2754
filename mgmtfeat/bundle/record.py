"""The ``model.json`` record of a model folder: versions, provenance checks and the atomic folder write."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

from mgmtfeat import __version__
from mgmtfeat.models.persistence import ModelFileError

__all__ = ["FORMAT", "RECORD_FILE", "CARD_FILE", "BundleError", "library_versions", "read_record",
           "provenance_differences", "model_folder"]

#: Format of model.json; bumped when a reader of the old format could misread the new one.
FORMAT = "mgmtfeat-model/1"
RECORD_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
#: Provenance fields that say when or with which package version features were made, not how.
_VOLATILE = ("package_version", "created", "torch")
_LIBRARIES = ("numpy", "scikit-learn", "torch", "xgboost", "skops")


class BundleError(ModelFileError):
    """A model folder that cannot be used: missing files, another version, or features made differently."""


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries an estimator file depends on (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def read_record(model_dir: str | os.PathLike) -> dict:
    """Read and check ``model.json`` of a model folder and the presence of its estimator files.

    Raises
    ------
    BundleError
        No folder or record, another format or mgmtfeat major.minor version, or a listed file missing.
    """
    folder = Path(model_dir)
    path = folder / RECORD_FILE
    if not path.is_file():
        what = "does not exist" if not folder.is_dir() else f"has no {RECORD_FILE}"
        raise BundleError(f"model folder {folder} {what}; pass a folder written by `mgmtfeat fit` (or fit the "
                          "model again).")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: unreadable ({err}); fit the model again.") from None
    if record.get("format") != FORMAT:
        raise BundleError(f"{path}: format {record.get('format')!r}, this mgmtfeat reads {FORMAT!r}; fit the model "
                          "again with this version.")
    made_by = str(record.get("mgmtfeat_version"))
    if _minor(made_by) != _minor(__version__):
        raise BundleError(f"{path}: written by mgmtfeat {made_by}, this is mgmtfeat {__version__} (major.minor "
                          f"must match: estimators and features may differ between versions); refit the model with "
                          f"`mgmtfeat fit` or install mgmtfeat {'.'.join(_minor(made_by))}.x.")
    for name in record.get("files", []):
        if not (folder / name).is_file():
            raise BundleError(f"model folder {folder}: file {name} listed in {RECORD_FILE} is missing; the folder is "
                              "incomplete, fit the model again (`mgmtfeat fit ... --force`).")
    return record


def _comparable(record: Mapping) -> dict:
    return {k: v for k, v in json.loads(json.dumps(record, default=str)).items() if k not in _VOLATILE}


def provenance_differences(expected: Mapping, found: Mapping) -> list[tuple[str, object, object]]:
    """``(field, model's value, features' value)`` for each provenance field that differs.

    Every field counts (net, weights id and sha256, random weights, clip settings, source files,
    ...) except when or by which package version the features were written.
    """
    a, b = _comparable(expected), _comparable(found)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


@contextlib.contextmanager
def model_folder(target: str | os.PathLike, force: bool) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``target``; on success it replaces ``target`` in one rename.

    An existing ``target`` is refused unless ``force``; it is moved aside, the new folder renamed
    in, then the old one deleted, so ``target`` never holds a half-written model. On an error the
    temporary folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    if target.exists() and not force:
        raise FileExistsError(f"model folder {target} exists; choose another --model-dir or pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
            os.replace(target, old / "model")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
