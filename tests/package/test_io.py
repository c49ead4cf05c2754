"""Tests for mgmtfeat._io: atomic writes through a temporary path."""

import os
import stat

import pytest

from mgmtfeat._io import atomic_path, atomic_write_bytes


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def _umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_atomic_path_file_keeps_suffix_and_renames(tmp_path):
    target = tmp_path / "sub" / "clip.mp4"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".clip.mp4.") and tmp.suffix == ".mp4"
        assert not target.exists()  # nobody sees the file before the block ends
        tmp.write_bytes(b"video")
    assert target.read_bytes() == b"video" and not tmp.exists()
    assert _mode(target) == 0o666 & ~_umask()
    assert [p.name for p in target.parent.iterdir()] == ["clip.mp4"]


def test_atomic_path_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "preview.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer died"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer died")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["preview.png"]


def test_atomic_path_folder(tmp_path):
    target = tmp_path / "T1w"
    with atomic_path(target, folder=True) as tmp:
        assert tmp.is_dir() and tmp.name.startswith(".T1w.")
        (tmp / "Image-1.dcm").write_bytes(b"a")
    assert (target / "Image-1.dcm").read_bytes() == b"a"
    assert _mode(target) == 0o777 & ~_umask()  # not mkdtemp's 0700
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "T2w", folder=True) as tmp:
            (tmp / "Image-1.dcm").write_bytes(b"a")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T1w"]


def test_atomic_write_bytes_leaves_no_temporary_file(tmp_path):
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    atomic_write_bytes(tmp_path / "a.json", b"[]")
    assert (tmp_path / "a.json").read_bytes() == b"[]"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
