"""Small file utilities shared by every step: atomic writes and the user cache folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "cache_dir", "sha256_file"]


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
