"""What keeps a feature store honest: settings digests, readable provenance, one extraction per net.

* Every entry records the **settings digest** of the provenance that made it (:func:`settings_digest`):
  a sha256 of the canonical JSON of the provenance fields that shape the numbers (net, weights id and
  sha256, dtype, clip settings, net frames and size, ...; not the package version or creation time).
  An entry whose digest differs from its net's ``provenance.json`` was made with other settings
  (another run, a ``--force`` run, a copy from another store) and is refused when read.
* :class:`ExtractionClaim` is a lock file per net, created with ``O_CREAT | O_EXCL`` (atomic on local
  file systems and NFSv3+), holding the PID, host, start time and command of the extraction that owns
  the net; a second extraction on the same store and net is refused while it exists. A claim left by
  a killed run on this host (its PID no longer runs) is taken over with a warning, so the same
  command resumes; one from another host is never guessed stale: the message says how to remove it.
* :func:`check_fusion` refuses to fuse nets whose clip settings or case sets differ, unless the
  caller asks for the cases common to all nets.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Mapping

from mgmtfeat.store.errors import StoreError

__all__ = ["settings_digest", "comparable", "read_provenance", "ExtractionClaim", "check_fusion", "LOCK_NAME"]

log = logging.getLogger(__name__)

#: Fields of a provenance record that describe the run, not the settings: left out of comparisons and digests
#: (``dtype_choice``: the timings behind ``--dtype auto`` on the machine that chose; the dtype itself counts).
_RUN_FIELDS = ("package_version", "created", "settings_digest", "dtype_choice")
#: Name of the claim file in ``STORE/NET/``.
LOCK_NAME = "extract.lock"


def comparable(record: Mapping) -> dict:
    """The fields of a provenance record that shape the numbers, as plain JSON values."""
    return {k: v for k, v in json.loads(json.dumps(record, default=str)).items() if k not in _RUN_FIELDS}


def settings_digest(record: Mapping) -> str:
    """Hex sha256 of the canonical JSON (sorted keys, no spaces) of :func:`comparable` ``(record)``."""
    text = json.dumps(comparable(record), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def read_provenance(path: Path) -> dict:
    """The JSON object in ``path``; a damaged file raises a :class:`StoreError` that names it."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise StoreError(
            f"{path}: damaged provenance file ({err}); it records how this net's features were made. Restore "
            "it from a copy, or re-extract the net with --force (which rewrites it and every entry)."
        ) from None
    if not isinstance(record, dict):
        raise StoreError(f"{path}: provenance is not a JSON object; restore it or re-extract the net with --force.")
    return record


class ExtractionClaim:
    """Own ``STORE/NET`` for one extraction: an exclusive lock file, removed when the block ends.

    Parameters
    ----------
    folder : Path
        The net's folder (created if needed).
    net : str
        The net's name, for messages.
    digest : str, optional
        Settings digest of the run (:func:`settings_digest`), recorded in the claim so that a second run
        is told whether the holder extracts with the same settings or with others.
    """

    def __init__(self, folder: Path, net: str, digest: str | None = None):
        self.path = Path(folder) / LOCK_NAME
        self.net = net
        self.digest = digest
        self._held = False

    def __enter__(self) -> "ExtractionClaim":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                  "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "settings_digest": self.digest}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not self._take_over_stale():
                raise StoreError(self._held_by_other()) from None
            try:  # another run may have taken it over first
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                raise StoreError(self._held_by_other()) from None
        self._held = True
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
        except BaseException:  # e.g. a full disk: leave no claim that would refuse the next run
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def _owner(self) -> tuple[str, dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return "", {}
        try:
            owner = json.loads(text)
        except ValueError:
            owner = {}
        return text, owner if isinstance(owner, dict) else {}

    def _take_over_stale(self) -> bool:
        """Remove the claim of a killed run on this host; True if it was removed."""
        text, owner = self._owner()
        if not (owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int)
                and not _alive(owner["pid"])):
            return False
        # move it aside and check that what moved is the stale claim, not one a run created meanwhile
        aside = self.path.with_name(f".{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return True
        if aside.read_text(encoding="utf-8") != text:
            os.replace(aside, self.path)  # a live claim: put it back
            return False
        aside.unlink()
        log.warning("%s: took over the claim of process %s (started %s), which no longer runs (a killed run)",
                    self.path, owner["pid"], owner.get("started", "?"))
        return True

    def _held_by_other(self) -> str:
        _, owner = self._owner()
        who = (f"process {owner.get('pid', '?')} on host {owner.get('host', '?')}, started {owner.get('started', '?')}"
               f" ({owner.get('command', 'command unknown')})")
        theirs = owner.get("settings_digest")
        if theirs and self.digest and theirs == self.digest:
            why = ("It extracts with the same settings as this run, so it makes the entries this run would: wait "
                   "for it to finish, then run this command again if you want (it resumes, so only cases the first "
                   "run left undone are extracted).")
        elif theirs and self.digest:
            why = (f"It extracts with other settings (settings digest {theirs[:12]}, this run's {self.digest[:12]}): "
                   "two runs on one net would mix entries made with different settings. Wait for it to finish, "
                   "or extract into another store (--out).")
        else:
            why = "Two runs on one net would write the same entries at once; wait for it to finish."
        return (f"{self.path}: another extraction of {self.net} into this store holds it: {who}. {why} If no "
                f"such run is going on (it was killed), delete {self.path} and run the command again.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def check_fusion(provenances: Mapping[str, Mapping], case_sets: Mapping[str, set], root: Path,
                 intersect: bool) -> list[str]:
    """Case ids to load for fused ``nets``, after checking that the nets may be fused.

    Nets whose clip settings differ describe different images and are refused, naming each differing
    setting (radiomics nets, made from the volumes themselves, have no clip settings and are exempt). Nets with different case sets are refused too, unless ``intersect``: silently dropping
    the cases a net lacks would change the cohort (and its saved folds) without anyone noticing.

    Parameters
    ----------
    provenances : mapping of net to provenance record
    case_sets : mapping of net to set of stored case ids
    root : Path
        The store, for messages.
    intersect : bool
        Use the cases common to every net (with a log warning naming what is left out).

    Returns
    -------
    list of str
        Sorted case ids.
    """
    nets = list(provenances)
    slice_nets = [net for net in nets if provenances[net].get("pathway") == "slices"]
    if slice_nets:  # one row per slice, not per case: the patient-level protocol reads them
        raise StoreError(f"{root}: {', '.join(slice_nets)} holds per-slice embeddings (slice pathway), which are not "
                         "fused with clip features; give a slice net alone to `mgmtfeat cv`/`fit`/`predict`")
    clips = {net: provenances[net].get("clips") for net in nets}
    # handcrafted features (kind "radiomics") describe the original volumes, not clips: nothing to compare
    clipped = [net for net in nets if provenances[net].get("kind") != "radiomics"]
    first = clipped[0] if clipped else nets[0]
    for net in clipped[1:]:
        if clips[net] != clips[first]:
            a, b = clips[first] or {}, clips[net] or {}
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) or ["clips (recorded by one net only)"]
            detail = "; ".join(f"{k}: {first}={a.get(k)!r}, {net}={b.get(k)!r}" for k in keys)
            raise StoreError(
                f"store {root}: nets {first} and {net} were extracted with different clip settings ({detail}); "
                "their features describe different images and cannot be fused. Re-extract one of them with the "
                "other's clip settings (e.g. --box-size, --frames) into this store, or use them separately."
            )
    common = set.intersection(*(set(case_sets[n]) for n in nets))
    everything = set.union(*(set(case_sets[n]) for n in nets))
    if common != everything:
        counts = ", ".join(f"{n} {len(case_sets[n])} cases" for n in nets)
        missing = []
        for net in nets:
            lacking = sorted(everything - set(case_sets[net]))
            if lacking:
                shown = ", ".join(lacking[:10]) + (f" and {len(lacking) - 10} more" if len(lacking) > 10 else "")
                missing.append(f"{net} lacks {shown}")
        text = f"store {root}: the fused nets hold different cases ({counts}); {'; '.join(missing)}"
        if not intersect:
            raise StoreError(
                f"{text}. Extract the missing cases into the store (see each net's failures.csv), or pass "
                f"--intersect (FeatureStore.load(..., intersect=True)) to use the {len(common)} cases common to all."
            )
        log.warning("%s; using the %d cases common to all nets (intersect)", text, len(common))
    return sorted(common)
