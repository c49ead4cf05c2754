"""Feature store: cached Kinetics-400 features keyed by (case id, net, modality).

Layout on disk::

    ROOT/
      NET/
        provenance.json        how the features of this net were made (net, weights, clip settings, ...)
        cases/CASE_ID.npz      one float32 array of n_features values per modality (the provenance's
                               ``n_features``: 400 logits for the video nets, the default for old stores), the label, case metadata and
                               the settings digest of the provenance that made it (checked on every read)
        extract.lock           present while an extraction owns the net (PID, host, start time)
        failures.csv           cases the last extraction could not read (case_id, file, reason)
      folds/KEY.csv            saved fold tables (case_id, label, repeat, fold) shared by every model

One file per (net, case) makes every write atomic (temporary file, then rename) and idempotent:
writing a case again replaces it, never duplicates it. ``.npz`` files are read with
``allow_pickle=False``, so a store can be shared without trusting its author. An entry made with
other settings than its net's provenance (see :mod:`mgmtfeat.store.integrity`) or a damaged one is
refused when read, naming the file and the fix.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import re
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mgmtfeat import MODALITIES, N_FEATURES, __version__
from mgmtfeat._io import FAILURE_COLUMNS, atomic_write_bytes, atomic_write_text, write_failures_csv
from mgmtfeat.store.errors import StoreError
from mgmtfeat.store.featureset import NO_LABEL, FeatureSet, check_label, check_vector
from mgmtfeat.store.integrity import ExtractionClaim, check_fusion, comparable, read_provenance, settings_digest

__all__ = ["StoreError", "FeatureSet", "FeatureStore", "atomic_write_bytes", "atomic_write_text", "DIGEST_KEY",
           "LABEL_FIX", "DAMAGED_NPZ_ERRORS"]

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DIGEST_KEY = "settings_digest"  #: The ``.npz`` key of an entry's settings digest.
#: The fix every bad stored label names: how to give the store labels for another task.
LABEL_FIX = ("for another task (tumour type, subtype, ...) keep the store's labels and give its classes in a "
             "CSV: --labels FILE --label-column COLUMN")
#: What a damaged ``.npz`` raises from numpy or zipfile (0-byte: EOFError, truncated: BadZipFile, ...).
DAMAGED_NPZ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


class FeatureStore:
    """A folder of cached features (see the module docstring for the layout).

    Parameters
    ----------
    root : path-like
        The store folder; created on the first write.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._digests: dict[str, tuple[tuple, str]] = {}  # net -> (provenance file's stat, its digest)

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------
    def _net_dir(self, net: str) -> Path:
        if not _CASE_ID.match(net):
            raise StoreError(f"net name {net!r} is not a valid folder name; use letters, digits, '.', '_', '-'")
        return self.root / net

    def case_path(self, net: str, case_id: str) -> Path:
        """Path of the ``.npz`` file of one case of ``net``."""
        if not _CASE_ID.match(case_id):
            raise StoreError(
                f"case id {case_id!r} is not usable as a file name; use letters, digits, '.', '_', '-'"
            )
        return self._net_dir(net) / "cases" / f"{case_id}.npz"

    def failures_path(self, net: str) -> Path:
        """Path of the failures table of ``net`` (cases its last extraction could not read)."""
        return self._net_dir(net) / "failures.csv"

    def write_failures(self, net: str, failures: list[dict]) -> Path:
        """Replace the failures table of ``net`` with ``failures`` (dicts of case_id, file, reason).

        A table that already says exactly this is left alone, so a complete store on a read-only medium
        can be resumed.
        """
        path = self.failures_path(net)
        wanted = sorted(({c: str(row.get(c, "")) for c in FAILURE_COLUMNS} for row in failures),
                        key=lambda row: row["case_id"])
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                if tuple(reader.fieldnames or ()) == FAILURE_COLUMNS and list(reader) == wanted:
                    return path
        except (OSError, UnicodeDecodeError, csv.Error):
            pass  # missing or unreadable: write it
        write_failures_csv(path, failures)
        return path

    def claim(self, net: str, digest: str | None = None) -> ExtractionClaim:
        """An exclusive claim on ``net`` for one extraction (``with store.claim(net, digest): ...``).

        Raises
        ------
        StoreError
            Another extraction holds the net; the message names the lock file, its owner and how to
            remove a stale one.
        """
        return ExtractionClaim(self._net_dir(net), net, digest)

    def folds_path(self, key: str) -> Path:
        """Path of the saved fold table named ``key`` (e.g. ``"k5-r4-seed0-<digest of the cohort>"``)."""
        if not _CASE_ID.match(key):
            raise StoreError(f"fold table name {key!r} is not a valid file name; use letters, digits, '.', '_', '-'")
        return self.root / "folds" / f"{key}.csv"

    # -- provenance ------------------------------------------------------------------------
    def nets(self) -> list[str]:
        """Nets that have a provenance file in this store, sorted."""
        return sorted(p.parent.name for p in self.root.glob("*/provenance.json")) if self.root.is_dir() else []

    def provenance(self, net: str) -> dict:
        """The provenance record of ``net``."""
        path = self._net_dir(net) / "provenance.json"
        if not path.is_file():
            known = ", ".join(self.nets()) or "none"
            raise StoreError(
                f"{path}: no features of net {net!r} in store {self.root} (nets present: {known}); "
                f"extract them first with `mgmtfeat extract --net {net} --out {self.root}`."
            )
        return read_provenance(path)

    def n_features(self, net: str) -> int:
        """Values per modality of ``net``'s vectors: its provenance's ``n_features`` (400 for older stores)."""
        return int(self.provenance(net).get("n_features", N_FEATURES))

    def settings_digest(self, net: str) -> str:
        """Settings digest of the provenance of ``net`` (what each of its entries must record)."""
        path = self._net_dir(net) / "provenance.json"
        try:  # cached while the file is unchanged: every read of an entry checks it
            info = path.stat()
        except OSError:
            return settings_digest(self.provenance(net))  # raises the missing-net error
        key = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._digests.get(net, (None,))[0] != key:
            self._digests[net] = (key, settings_digest(self.provenance(net)))
        return self._digests[net][1]

    def write_provenance(self, net: str, provenance: Mapping, *, replace: bool = False) -> dict:
        """Record how the features of ``net`` are made; refuse a different record unless ``replace``.

        The fields ``package_version``, ``created`` and ``settings_digest`` (the digest every entry of
        this net records) are added; they are not compared, so a store can be resumed by a later
        version of the package. Returns the record as stored.
        """
        record = {"net": net, **provenance}
        path = self._net_dir(net) / "provenance.json"
        if not replace:
            old = self.check_provenance(net, provenance)
            if old is not None:
                return old
        record["settings_digest"] = settings_digest(record)
        record["package_version"] = __version__
        record["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str))
        return record

    def check_provenance(self, net: str, provenance: Mapping) -> dict | None:
        """The stored provenance record of ``net`` (None if there is none yet), if it matches ``provenance``.

        Raises
        ------
        StoreError
            The store holds features of ``net`` made with other settings.
        """
        record = {"net": net, **provenance}
        path = self._net_dir(net) / "provenance.json"
        if not path.is_file():
            return None
        old = read_provenance(path)
        if comparable(old) != comparable(record):
            a, b = comparable(old), comparable(record)
            diff = [f"{k} {a.get(k)!r} in the store, {b.get(k)!r} now" if k == "dtype" else k
                    for k in sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))]  # dtype: give --dtype
            raise StoreError(
                f"{path}: the store holds {net} features made with other settings "
                f"(differing: {'; '.join(diff)}); use a new --out folder or pass --force to replace them."
            )
        return old

    # -- cases -----------------------------------------------------------------------------
    def has_case(self, net: str, case_id: str) -> bool:
        """Whether a complete entry of ``case_id`` exists for ``net``."""
        return self.case_path(net, case_id).is_file()

    def case_ids(self, net: str) -> list[str]:
        """Case ids stored for ``net``, sorted."""
        folder = self._net_dir(net) / "cases"
        return sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []

    def write_case(
        self, net: str, case_id: str, features: Mapping[str, np.ndarray], label: int | None = None,
        meta: Mapping | None = None, digest: str | None = None,
    ) -> Path:
        """Store the features of one case atomically, replacing an earlier entry.

        Parameters
        ----------
        net : str
            Backbone name, e.g. ``"vivit"``.
        case_id : str
            Stable case identifier (a file-name-safe string).
        features : mapping of str to array of shape (n_features,)
            One vector per canonical modality name (see ``mgmtfeat.MODALITIES``); ``n_features`` from the
            net's provenance (400 without one).
        label : int or None
            0 or 1, or None when unknown.
        meta : mapping, optional
            JSON-able case metadata (clip box, source files, ...).
        digest : str, optional
            Settings digest of the provenance the features were made with (an extraction passes its own,
            so a provenance replaced under it cannot relabel its entries); default: ``provenance.json``'s.
        """
        path = self.case_path(net, case_id)
        arrays = {}
        has_provenance = (self._net_dir(net) / "provenance.json").is_file()
        size = self.n_features(net) if has_provenance else N_FEATURES
        for modality, values in features.items():
            if modality not in MODALITIES:
                raise StoreError(
                    f"case {case_id}: unknown modality {modality!r}; use one of {', '.join(MODALITIES)}"
                )
            arrays[modality] = check_vector(values, where=f"case {case_id}, {net}/{modality}", size=size)
        if not arrays:
            raise StoreError(f"case {case_id}: no features given")
        if label is not None:
            label = check_label(label, where=f"case {case_id}", fix=LABEL_FIX)
        arrays["label"] = np.array(NO_LABEL if label is None else label, np.int8)
        arrays["meta"] = np.array(json.dumps(dict(meta or {}), sort_keys=True, default=str))
        if digest is None:
            if not has_provenance:
                raise StoreError(f"case {case_id}: net {net} of store {self.root} has no provenance.json; write "
                                 "the provenance (write_provenance) before its entries, so each records its settings.")
            digest = self.settings_digest(net)
        arrays[DIGEST_KEY] = np.array(digest)
        with tempfile.SpooledTemporaryFile() as buffer:
            np.savez(buffer, **arrays)
            buffer.seek(0)
            atomic_write_bytes(path, buffer.read())
        return path

    def read_case(self, net: str, case_id: str, digest: str | None = None) -> tuple[dict[str, np.ndarray], int | None, dict]:
        """Return ``(features by modality, label or None, metadata)`` of one stored case.

        The entry's settings digest must equal ``digest`` (default: that of the net's ``provenance.json``).

        Raises
        ------
        StoreError
            The entry is missing, damaged (0 bytes, truncated, not an ``.npz``), or was made with
            other settings than the provenance; the message names the file and the fix.
        """
        path = self.case_path(net, case_id)
        fix = (f"delete it and re-extract the case (the same `mgmtfeat extract ... --net {net} --out {self.root}` "
               "command redoes only the missing cases)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                features = {m: npz[m] for m in MODALITIES if m in npz.files}
                label = npz["label"] if "label" in npz.files else NO_LABEL
                meta = json.loads(str(npz["meta"])) if "meta" in npz.files else {}
                recorded = str(npz[DIGEST_KEY]) if DIGEST_KEY in npz.files else None
        except FileNotFoundError:
            raise StoreError(f"{path}: case {case_id} has no {net} features in this store") from None
        except DAMAGED_NPZ_ERRORS as err:
            raise StoreError(f"{path}: damaged feature entry of case {case_id} ({type(err).__name__}: {err}); "
                             f"{fix}") from None
        expected = digest or self.settings_digest(net)
        if recorded != expected:
            made = f"settings digest {recorded}" if recorded else "no settings digest (older mgmtfeat, or written by hand)"
            raise StoreError(
                f"{path}: entry of case {case_id} was made with other settings than {net}/provenance.json ({made}; "
                f"the provenance's is {expected}): it comes from another run, a --force run or another store. "
                f"{fix[0].upper()}{fix[1:]}, or re-extract the whole net with --force."
            )
        label = check_label(label, where=f"{path}: case {case_id}", stored=True,
                            fix=f"Correct the case's label in the dataset's label file, then {fix}; {LABEL_FIX}")
        return features, (None if label == NO_LABEL else label), meta

    def verify_case(self, net: str, case_id: str, digest: str | None = None) -> str | None:
        """Why the entry of ``case_id`` cannot be used (None when it can); see :meth:`read_case`."""
        try:
            self.read_case(net, case_id, digest)
        except StoreError as err:
            return str(err)
        return None

    def labels(self, net: str) -> pd.DataFrame:
        """Table of ``case_id``, ``label`` (nullable Int64) and metadata columns for ``net``."""
        rows = []
        for case_id in self.case_ids(net):
            _, label, meta = self.read_case(net, case_id)
            rows.append({"case_id": case_id, "label": label, **{k: v for k, v in meta.items() if _scalar(v)}})
        table = pd.DataFrame(rows, columns=None if rows else ["case_id", "label"])
        table["label"] = table["label"].astype("Int64")
        return table

    def load(
        self, nets: str | Sequence[str] = "vivit", modalities: Iterable[str] = MODALITIES, *,
        require_labels: bool = True, intersect: bool = False,
    ) -> FeatureSet:
        """Load features: (n_cases, n_nets * n_modalities, n_features), or the concatenation when nets differ.

        Cases are those of every requested net, in sorted id order. Inputs are ordered
        net by net, modality by modality (``"vivit:flair", "vivit:t1", ...``). Each net's vectors have
        its provenance's ``n_features`` values; nets of different lengths (e.g. i3d's 400 and
        radiomics' 107) give a FeatureSet with per-input ``sizes`` and only the 2-D ``X2d``.

        Parameters
        ----------
        nets : str or sequence of str
            Backbone names whose features are concatenated along the input axis.
        modalities : iterable of str
            Canonical modality names to load.
        require_labels : bool
            Drop unlabelled cases (the default); without labels, ``y`` holds -1 for them.
        intersect : bool
            With several nets whose case sets differ, use the cases common to all (logged) instead
            of refusing.

        Raises
        ------
        StoreError
            If the store or a net is missing, an entry is damaged or made with other settings than
            its provenance, a case lacks a requested modality, a vector is not n_features finite values,
            fused nets differ in clip settings or (without ``intersect``) in cases, labels disagree
            between nets, or no labelled case remains.
        """
        nets = [nets] if isinstance(nets, str) else list(nets)
        modalities = list(modalities)
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities:
            raise StoreError(f"unknown modalities {unknown}; choose from {', '.join(MODALITIES)}")
        if not self.root.is_dir():
            raise StoreError(
                f"feature store {self.root} does not exist; extract features into it with "
                "`mgmtfeat extract --out ...` or import the published ones with "
                "`mgmtfeat import-published --out ...`."
            )
        provenances = {net: self.provenance(net) for net in nets}  # a clear error for a net that is not there
        sizes = tuple(self.n_features(net) for net in nets for _ in modalities)
        common = check_fusion(provenances, {net: set(self.case_ids(net)) for net in nets}, self.root, intersect)
        rows, labels, kept = [], [], []
        for case_id in common:
            row, label = self._load_row(case_id, nets, modalities, sizes)
            if label is None and require_labels:
                continue
            rows.append(row)
            labels.append(NO_LABEL if label is None else label)
            kept.append(case_id)
        if not rows:
            raise StoreError(f"feature store {self.root}: no {'labelled ' if require_labels else ''}cases for {nets}")
        inputs = tuple(f"{net}:{m}" for net in nets for m in modalities)
        values = np.stack([np.stack(r) if len(set(sizes)) == 1 else np.concatenate(r) for r in rows])
        return FeatureSet(values, np.asarray(labels, np.int64), tuple(kept), inputs, sizes)

    def to_frame(self, nets: str | Sequence[str] = "vivit", modalities: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per case, one ``NET:MODALITY:FEATURE`` column per feature (see :mod:`mgmtfeat.store.table`)."""
        from mgmtfeat.store.table import feature_table

        return feature_table(self, nets, modalities)

    def _load_row(self, case_id: str, nets: list[str], modalities: list[str], sizes) -> tuple[list, int | None]:
        vectors, labels, size = [], set(), iter(sizes)
        for net in nets:
            features, label, _ = self.read_case(net, case_id)
            missing = [m for m in modalities if m not in features]
            if missing:
                raise StoreError(
                    f"{self.case_path(net, case_id)}: case {case_id} has no {net} features for "
                    f"{', '.join(missing)}; re-extract it or leave those modalities out (--modalities)."
                )
            for m in modalities:
                vectors.append(check_vector(features[m], where=f"{self.case_path(net, case_id)} ({m})", size=next(size)))
            labels.add(label)
        if len(labels) > 1:
            raise StoreError(f"case {case_id}: labels differ between nets {nets}: {sorted(map(str, labels))}")
        return vectors, labels.pop()


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None
