"""The paper's published ViViT features: fetch the two TFRecord files and import them as a store.

The files come from the public repository of the paper (folder ``DeepFeaturesAndTFRecords/``):
577 BraTS 2021 patients, 400 ViViT Kinetics-400 outputs for each of FLAIR, T1, T1wCE, T2 and
delta-T1, already min-max scaled to [0, 1] per feature by the authors, and the MGMT label. They
carry no patient identifiers, so case ids are derived from each record's content.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat._io import DownloadError, cache_dir, download, sha256_file
from mgmtfeat.store.store import FeatureStore, StoreError
from mgmtfeat.store.tfrecord import read_examples

__all__ = ["PUBLISHED_FILES", "PAPER_FIELDS", "fetch_published", "import_published", "published_store", "published_root",
           "published_provenance", "is_published"]

REPOSITORY = "FORRESTHUACHEN/mpMRI_for_MGMT_Prediction-"
FOLDER = "DeepFeaturesAndTFRecords"
BASE_URL = f"https://github.com/{REPOSITORY}/raw/main/{FOLDER}/"

#: File name -> (sha256, split name in the paper's first fold).
PUBLISHED_FILES = {
    "Traintransdetalrunning1_0.tfrecords": (
        "ecb62980f5dfd03ce86011a42ab280cd0032297a8e0de782541b96453b42d04c",
        "train",
    ),
    "Testtransdetalrunning1_0.tfrecords": (
        "8c65d9ce60070c13663733dbebc74fed8b9e085640538d0f478d4d046006010c",
        "test",
    ),
}

#: TFRecord key of each canonical modality ("DETAL" is the authors' spelling).
RECORD_KEYS = {"flair": "DF_FLAIR", "t1": "DF_T1", "t1ce": "DF_T1CE", "t2": "DF_T2", "delta_t1": "DF_DETAL_T1"}
NET = "vivit"
#: What the published features share with an extraction's provenance, and so what a model fitted on them
#: can check of a user's store (the clip settings, dtype and the rest were not published).
PAPER_FIELDS = ("weights_id", "sampling", "frame_indices")


def published_provenance() -> dict:
    """Provenance of the imported published features: their source and what an extraction also records."""
    return {
        "source": f"published TFRecords of {REPOSITORY}/{FOLDER}",
        "files": {name: sha for name, (sha, _) in PUBLISHED_FILES.items()},
        "weights": "google/vivit-b-16x2-kinetics400 (as run by the paper's authors)",
        "preprocessing": "150-frame tumour box clips; features min-max scaled to [0, 1] by the authors",
        "weights_id": "google/vivit-b-16x2-kinetics400",
        "sampling": "paper",
        "frame_indices": [1, 26, 51, 76, 101] + [126] * 27,
        "scaling": {"method": "min-max", "range": [0, 1], "per": "feature",
                    "over": "the authors' cohort (transductive)", "by": "the authors"},
    }


def is_published(provenance: dict) -> bool:
    """Whether a net's provenance is that of the imported published features."""
    return str(provenance.get("source", "")).startswith("published TFRecords of")


def fetch_published(source: str | os.PathLike | None = None, timeout: float = 60.0,
                    source_option: str = "--published-source") -> dict[str, Path]:
    """Return verified paths of the two published TFRecord files.

    Parameters
    ----------
    source : path-like, optional
        A local folder holding both files (used as is, nothing is copied). Without it, the files
        are taken from the user cache, or downloaded into it when online.
    timeout : float
        Seconds to wait for the download before giving up.
    source_option : str
        The option of the running command that gives ``source`` (``--published-source`` of ``cv``,
        ``--source`` of ``import-published``), named in the message of a failed download.

    Raises
    ------
    FileNotFoundError
        A file is missing from ``source``, or it cannot be downloaded.
    ValueError
        A file's sha256 differs from the published one.
    """
    folder = Path(source) if source is not None else cache_dir() / "published"
    paths = {}
    for name, (sha, _) in PUBLISHED_FILES.items():
        path = folder / name
        if not path.is_file():
            if source is not None:
                raise FileNotFoundError(
                    f"{path}: published feature file missing; the folder must hold {', '.join(PUBLISHED_FILES)}"
                )
            _download(BASE_URL + name, path, timeout, source_option)
        actual = sha256_file(path)
        if actual != sha:
            raise ValueError(
                f"{path}: sha256 {actual} differs from the published {sha}; the file is damaged or "
                "another version. Delete it and fetch it again."
            )
        paths[name] = path
    return paths


def _download(url: str, path: Path, timeout: float, source_option: str) -> None:
    # the digest is checked before the file appears, so a wrong download never sits in the cache
    try:
        download(url, path, sha256=PUBLISHED_FILES[path.name][0], timeout=timeout,
                 how_to="offline, pass the folder that holds the two published files: "
                 f"{source_option} DIR"
                 + (" (or set MGMTFEAT_PUBLISHED_SOURCE)" if source_option == "--published-source" else ""))
    except DownloadError as err:
        raise FileNotFoundError(str(err)) from err


def case_id_of(features: dict[str, np.ndarray], label: int) -> str:
    """Content-derived id of a published record: ``pub-`` and 12 hex digits of a sha256."""
    digest = hashlib.sha256()
    for modality in MODALITIES:
        digest.update(features[modality].astype("<f4").tobytes())
    digest.update(int(label).to_bytes(1, "little"))
    return "pub-" + digest.hexdigest()[:12]


def _decode(example: dict, name: str, index: int) -> tuple[dict[str, np.ndarray], int]:
    where = f"{name}, record {index}"
    try:
        features = {m: np.frombuffer(example[key][0], "<f4").astype(np.float32) for m, key in RECORD_KEYS.items()}
        labels = np.frombuffer(example["Label"][0], "<i4")
    except (KeyError, IndexError) as err:
        raise StoreError(f"{where}: missing feature {err}; expected keys {sorted(RECORD_KEYS.values())} and Label") from None
    if labels.shape != (1,):
        raise StoreError(f"{where}: Label holds {labels.size} values, expected one int32")
    return features, int(labels[0])


def import_published(out: str | os.PathLike, source: str | os.PathLike | None = None) -> FeatureStore:
    """Write the published features into a feature store under net ``vivit``.

    Cases get content-derived ids (:func:`case_id_of`) and keep their split (``train``/``test``
    of the paper's first fold) and record index as metadata. Re-importing replaces the same entries.

    Raises
    ------
    StoreError
        Two records with identical content (their ids would collide), or an invalid record.
    """
    files = fetch_published(source)
    cases, seen = [], {}
    for name, path in files.items():  # read and check everything before writing anything
        split = PUBLISHED_FILES.get(name, (None, "unknown"))[1]
        for index, example in enumerate(read_examples(path)):
            features, label = _decode(example, name, index)
            case_id, where = case_id_of(features, label), f"{name}, record {index}"
            if case_id in seen:
                raise StoreError(f"{where}: same content as {seen[case_id]}; duplicate case in the published files")
            seen[case_id] = where
            cases.append((case_id, features, label, {"split": split, "file": name, "record": index}))
    store = FeatureStore(out)
    store.write_provenance(NET, published_provenance())
    for case_id, features, label, meta in cases:
        store.write_case(NET, case_id, features, label, meta=meta)
    return store


def published_root() -> Path:
    """Where :func:`published_store` keeps the imported published features (in the user cache)."""
    return cache_dir() / "published-vivit"


def published_store(source: str | os.PathLike | None = None) -> FeatureStore:
    """The published features as a store in the user cache, imported on first use.

    Parameters
    ----------
    source : path-like, optional
        Folder holding the two published files (``--published-source``; else
        ``$MGMTFEAT_PUBLISHED_SOURCE``). When given it must hold them, even if the cache is filled:
        a wrong explicit source is an error, not silently replaced by the cache.

    Raises
    ------
    FileNotFoundError
        An explicit source that is not a folder holding both files.
    """
    named = "--published-source" if source else "MGMTFEAT_PUBLISHED_SOURCE"
    source = source or os.environ.get("MGMTFEAT_PUBLISHED_SOURCE") or None
    if source is not None:
        missing = [name for name in PUBLISHED_FILES if not (Path(source) / name).is_file()]
        if missing:
            what = "does not exist" if not Path(source).is_dir() else f"lacks {', '.join(missing)}"
            raise FileNotFoundError(
                f"{named} {source} {what}; give the folder that holds {' and '.join(PUBLISHED_FILES)}, or leave "
                f"{named} out to use the copy in the user cache (downloaded when missing)."
            )
    store = FeatureStore(published_root())
    ids = store.case_ids(NET)
    # an older import (entries without a settings digest) or a damaged first entry is imported again
    if len(ids) != 577 or not store.nets() or store.verify_case(NET, ids[0]) is not None:
        store = import_published(store.root, source)
    return store
