"""Small file utilities shared by every step: atomic writes, the failures table, the user cache folder, sha256,
downloads."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "write_csv", "write_failures_csv", "FAILURE_COLUMNS",
           "cache_dir", "sha256_file", "download", "DownloadError"]

FAILURE_COLUMNS = ("case_id", "file", "reason")


def _ordinary_permissions(path: str, mode: int) -> None:
    """mkstemp/mkdtemp create 0600/0700; give the result the umask's ordinary permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


@contextmanager
def atomic_path(path: str | os.PathLike, *, folder: bool = False, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that need a file name; renamed over ``path`` on success.

    For writers that cannot take bytes (imageio/ffmpeg, pydicom, a series of files): write to
    the yielded path; when the ``with`` block ends without an exception the result is renamed
    to ``path`` (a reader sees the old file or the new one, never a partial one), otherwise it
    is removed. A killed writer leaves at most a hidden ``.NAME.*`` entry.

    Parameters
    ----------
    path : str or os.PathLike
        The target file (or folder); its parent is created.
    folder : bool
        Yield an empty temporary folder instead of a file (e.g. a DICOM series); the target
        folder must not exist when the block ends (``os.replace`` does not merge folders).
    suffix : str, optional
        End of the temporary file's name; default the target's suffix, so that writers that
        pick the format from the name (``.mp4``, ``.png``) still do.

    Yields
    ------
    Path
        The temporary file (created empty, 0600 until renamed) or folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    if folder:
        tmp = tempfile.mkdtemp(dir=path.parent, prefix=prefix)
    else:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix,
                                   suffix=path.suffix if suffix is None else suffix)
        os.close(fd)
    try:
        yield Path(tmp)
        if not folder:  # the data must be on disk before the rename makes it visible
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        _ordinary_permissions(tmp, 0o777 if folder else 0o666)
        os.replace(tmp, path)
    except BaseException:
        if folder:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never a partial one; a killed writer leaves at most
    a hidden ``.NAME.*.tmp`` file.
    """
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_bytes(data)


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


class DownloadError(OSError):
    """A download failed, or the file it gave has another sha256 than the expected one."""


def download(url: str, path: str | os.PathLike, sha256: str | None = None, timeout: float = 60.0,
             how_to: str = "check the network connection and try again") -> str:
    """Download ``url`` to ``path`` atomically; return the file's sha256.

    The file is streamed to a temporary file beside ``path`` and hashed on the way; it is renamed
    to ``path`` only once its digest equals ``sha256`` (when given), so ``path`` never holds a
    partial or wrong file.

    Parameters
    ----------
    url : str
        Source URL (``https://``, ``http://`` or ``file://``).
    path : path-like
        Destination file; its folder is created.
    sha256 : str, optional
        Expected hex digest; None accepts any content (the digest is returned for provenance).
    timeout : float
        Seconds to wait for the server on each network operation.
    how_to : str
        The fix appended to the message when the download fails (e.g. how to supply the file by hand).

    Raises
    ------
    DownloadError
        The URL cannot be read (network, HTTP error, interrupted transfer) or the digest differs.
    """
    import http.client
    import urllib.request

    digest = hashlib.sha256()
    with atomic_path(path) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
            raise DownloadError(f"cannot download {url} to {path} ({exc}); {how_to}") from exc
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DownloadError(
                f"{url} gave a file with sha256 {actual}, expected {sha256}; it was not saved to {path}. "
                f"The server sent another file or the transfer was damaged; {how_to}"
            )
    return actual
