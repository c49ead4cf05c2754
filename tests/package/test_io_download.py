"""mgmtfeat._io: the one downloader (digest checked before the file appears) and atomic_path."""

import hashlib

import pytest

from mgmtfeat._io import DownloadError, atomic_path, download


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_download_verifies_digest_before_the_file_appears(tmp_path):
    source = tmp_path / "src" / "weights.bin"
    source.parent.mkdir()
    source.write_bytes(b"the published bytes")
    good = hashlib.sha256(b"the published bytes").hexdigest()
    target = tmp_path / "cache" / "weights.bin"
    assert download(source.as_uri(), target, sha256=good) == good
    assert target.read_bytes() == b"the published bytes"

    other = tmp_path / "cache" / "other.bin"
    with pytest.raises(DownloadError, match=rf"weights\.bin gave a file with sha256 .* expected {'0' * 64}.*not saved"):
        download(source.as_uri(), other, sha256="0" * 64, how_to="pass weights=PATH")
    assert not other.exists() and _leftovers(other.parent) == []
    # a wrong download never replaces a good file
    with pytest.raises(DownloadError):
        download(source.as_uri(), target, sha256="0" * 64)
    assert target.read_bytes() == b"the published bytes"


def test_download_failure_names_url_and_fix(tmp_path):
    url = (tmp_path / "absent.bin").as_uri()
    with pytest.raises(DownloadError, match=rf"cannot download {url}.*pass weights=PATH") as err:
        download(url, tmp_path / "out" / "absent.bin", how_to="pass weights=PATH")
    assert isinstance(err.value, OSError)
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_path_renames_on_success_and_removes_on_error(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible before the block ends
    assert target.read_text() == "new" and _leftovers(tmp_path) == []


def test_published_download_with_wrong_content_leaves_nothing_in_cache(tmp_path, monkeypatch):
    from mgmtfeat.store import published

    server = tmp_path / "server"
    server.mkdir()
    for name in published.PUBLISHED_FILES:
        (server / name).write_bytes(b"an older version of the file")
    monkeypatch.setattr(published, "BASE_URL", server.as_uri() + "/")
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"sha256 .* expected .*--published-source"):
        published.fetch_published()
    assert not any((tmp_path / "cache").rglob("*.tfrecords*"))
