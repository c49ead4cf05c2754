"""The ``model.json`` record of a model folder (:class:`ModelRecord`), read and written only here.

Also the provenance comparison and the atomic folder write. A record carries a schema version
(:data:`SCHEMA_VERSION`); records written before it existed have none and are version 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from mgmtfeat import __version__
from mgmtfeat._io import atomic_write_text
from mgmtfeat.models.persistence import ModelFileError
from mgmtfeat.store.published import PAPER_FIELDS, is_published

__all__ = ["FORMAT", "SCHEMA_VERSION", "RECORD_FILE", "CARD_FILE", "BundleError", "ModelRecord", "library_versions",
           "read_record", "write_record", "provenance_differences", "model_folder"]

#: Format of model.json; bumped when a reader of the old format could misread the new one.
FORMAT = "mgmtfeat-model/1"
#: Schema version of :class:`ModelRecord` this mgmtfeat writes; a record without one is version 1.
SCHEMA_VERSION = 1
RECORD_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
#: Provenance fields that say when or with which package version features were made, not how.
_VOLATILE = ("package_version", "created", "torch")
_LIBRARIES = ("numpy", "scikit-learn", "torch", "xgboost", "skops")


class BundleError(ModelFileError):
    """A model folder that cannot be used: missing files, another version, or features made differently."""


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """What ``model.json`` says about a fitted model folder.

    Attributes
    ----------
    mgmtfeat_version : str
        The mgmtfeat that wrote it (major.minor must match the reader's).
    model : Mapping
        ``name``, ``description`` and ``params`` of the model.
    nets, modalities, inputs : tuple of str
        Feature nets, modalities, and the ``net:modality`` inputs in the column order of X
        (n_cases, n_inputs * n_features); a slice model has one ``net:slices`` input.
    task : Mapping
        ``classes`` (in probability-column order), ``positive_class``, ``label_source`` (``store``
        or a CSV), label columns, ``cases_per_class``, ``n_cases`` and cases left out.
    features : Mapping
        ``store`` (its path) and ``provenance`` (net -> the store's provenance of that net).
    estimators, files : tuple of str
        Estimator names (one, or one per fold model) and every file of the folder.
    ensemble : Mapping or None
        Fold models: ``k``, ``folds`` (one row per model) and more; None for one model.
    pathway : {"clips", "slices"}
        Clip features, or per-slice embeddings voted per patient (then ``slice_protocol`` holds
        the cutoffs and the slice threshold).
    """

    mgmtfeat_version: str
    model: Mapping[str, Any]
    nets: tuple[str, ...]
    modalities: tuple[str, ...]
    inputs: tuple[str, ...]
    task: Mapping[str, Any]
    features: Mapping[str, Any]
    estimators: tuple[str, ...]
    files: tuple[str, ...] = ()
    ensemble: Mapping[str, Any] | None = None
    pathway: str = "clips"
    slice_protocol: Mapping[str, Any] | None = None
    seed: int | None = None
    created: str | None = None
    libraries: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    training_cases: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    format: str = FORMAT
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        for name in ("nets", "modalities", "inputs", "estimators", "files", "training_cases", "command"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def classes(self) -> list:
        """The task's classes, in the order of the probability columns."""
        return list(self.task["classes"])

    @property
    def provenance(self) -> Mapping[str, Mapping]:
        """Net -> provenance of the training features."""
        return self.features["provenance"]

    @property
    def is_slices(self) -> bool:
        """Whether the model classifies per-slice embeddings (the slice pathway)."""
        return self.pathway == "slices"

    def to_dict(self) -> dict:
        """The JSON object written to ``model.json`` (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: Mapping, source: str | os.PathLike = RECORD_FILE) -> "ModelRecord":
        """Build a record from ``model.json``'s object, converting older schema versions.

        Raises
        ------
        BundleError
            A newer or unknown schema version, or a required field missing (``source`` names the file).
        """
        version = data.get("schema_version", 1)  # records written before the field existed are version 1
        if version not in _CONVERTERS:
            raise BundleError(f"{source}: model record schema version {version!r}; this mgmtfeat reads versions "
                              f"{', '.join(map(str, sorted(_CONVERTERS)))}. Install the mgmtfeat that wrote it "
                              f"(mgmtfeat {data.get('mgmtfeat_version')}), or fit the model again with this one.")
        data = _CONVERTERS[version](dict(data))
        fields = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise BundleError(f"{source}: model record lacks {', '.join(missing)}; the folder was not written by "
                              "`mgmtfeat fit` or was altered: fit the model again.")
        return cls(**{k: v for k, v in data.items() if k in fields})


def _from_v1(data: dict) -> dict:
    """Version 1 (no ``schema_version``; ``pathway`` only on slice models) -> the current fields."""
    data.setdefault("pathway", "clips")
    data["schema_version"] = SCHEMA_VERSION
    return data


#: Schema version -> converter to the current fields.
_CONVERTERS = {1: _from_v1}


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


def read_record(model_dir: str | os.PathLike) -> ModelRecord:
    """Read and check ``model.json`` of a model folder and the presence of its estimator files.

    Raises
    ------
    BundleError
        No folder or record, another format, schema or mgmtfeat major.minor version, or a listed file missing.
    """
    folder = Path(model_dir)
    path = folder / RECORD_FILE
    if not path.is_file():
        what = "does not exist" if not folder.is_dir() else f"has no {RECORD_FILE}"
        raise BundleError(f"model folder {folder} {what}; pass a folder written by `mgmtfeat fit` (or fit the "
                          "model again).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: unreadable ({err}); fit the model again.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise BundleError(f"{path}: format {found!r}, this mgmtfeat reads {FORMAT!r}; fit the model "
                          "again with this version.")
    record = ModelRecord.from_dict(data, path)
    made_by = str(record.mgmtfeat_version)
    if _minor(made_by) != _minor(__version__):
        raise BundleError(f"{path}: written by mgmtfeat {made_by}, this is mgmtfeat {__version__} (major.minor "
                          f"must match: estimators and features may differ between versions); refit the model with "
                          f"`mgmtfeat fit` or install mgmtfeat {'.'.join(_minor(made_by))}.x.")
    for name in record.files:
        if not (folder / name).is_file():
            raise BundleError(f"model folder {folder}: file {name} listed in {RECORD_FILE} is missing; the folder is "
                              "incomplete, fit the model again (`mgmtfeat fit ... --force`).")
    return record


def write_record(folder: str | os.PathLike, record: ModelRecord) -> Path:
    """Write ``record`` atomically as ``folder/model.json``; return its path."""
    path = Path(folder) / RECORD_FILE
    atomic_write_text(path, json.dumps(record.to_dict(), indent=2))
    return path


def _comparable(record: Mapping) -> dict:
    return {k: v for k, v in json.loads(json.dumps(record, default=str)).items() if k not in _VOLATILE}


def provenance_differences(expected: Mapping, found: Mapping) -> list[tuple[str, object, object]]:
    """``(field, model's value, features' value)`` for each provenance field that differs.

    Every field counts (net, weights id and sha256, random weights, clip settings, source files,
    ...) except when or by which package version the features were written. Against the published
    features only ``PAPER_FIELDS`` count: their clip settings and dtype were not published.
    """
    if is_published(expected):  # the published features share only these fields with an extraction
        return [(k, expected.get(k), found.get(k)) for k in PAPER_FIELDS if expected.get(k) != found.get(k)]
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
