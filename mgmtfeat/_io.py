"""Small file utilities shared by every step: atomic writes, the failures table, the user cache folder."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Sequence

__all__ = ["atomic_write_bytes", "atomic_write_text", "write_csv", "write_failures_csv", "FAILURE_COLUMNS", "cache_dir", "sha256_file"]

#: Columns of a failures table: one row per case that failed, the file at fault and why.
FAILURE_COLUMNS = ("case_id", "file", "reason")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never a partial one; a killed writer leaves at most
    a hidden ``.NAME.*.tmp`` file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text (UTF-8) version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_csv(path: str | os.PathLike, rows: list[dict], columns: Sequence[str]) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) as a CSV table with a header, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def write_failures_csv(path: str | os.PathLike, failures: list[dict]) -> None:
    """Write the failures table of a batch run atomically: ``case_id, file, reason``, sorted by case id.

    The one writer of every failures table (a feature store's, a clip folder's). The file is written
    even when nothing failed (header only), so it always describes the last run; rows come sorted
    so that the table does not depend on the order in which parallel tasks finished.
    """
    write_csv(path, sorted(failures, key=lambda row: str(row["case_id"])), FAILURE_COLUMNS)


def cache_dir() -> Path:
    """The user cache of mgmtfeat (weights, published features), created on demand.

    ``$MGMTFEAT_CACHE`` when set, else ``$XDG_CACHE_HOME/mgmtfeat``, else ``~/.cache/mgmtfeat``.
    """
    env = os.environ.get("MGMTFEAT_CACHE")
    path = Path(env).expanduser() if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mgmtfeat"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
