import shutil

import numpy as np
import pytest

from mgmtfeat.store.published import PUBLISHED_FILES, fetch_published, import_published, published_store


def test_import_gives_577_labelled_cases(published_store, published):
    assert published.X.shape == (577, 5, 400)
    assert np.bincount(published.y).tolist() == [276, 301]
    assert all(c.startswith("pub-") for c in published.case_ids)
    table = published_store.labels("vivit")
    assert table["split"].value_counts().to_dict() == {"train": 462, "test": 115}
    assert published_store.provenance("vivit")["files"] == {k: v[0] for k, v in PUBLISHED_FILES.items()}


def test_ids_are_stable_across_imports(published_dir, published_store, tmp_path):
    again = import_published(tmp_path / "again", published_dir)
    assert again.case_ids("vivit") == published_store.case_ids("vivit")
    # re-importing into the same store replaces, never duplicates
    import_published(tmp_path / "again", published_dir)
    assert len(again.case_ids("vivit")) == 577


def test_fetch_verifies_sha256(published_dir, tmp_path):
    paths = fetch_published(published_dir)
    assert set(paths) == set(PUBLISHED_FILES)
    for name in PUBLISHED_FILES:
        shutil.copy(published_dir / name, tmp_path / name)
    (tmp_path / "Testtransdetalrunning1_0.tfrecords").write_bytes(b"not the file")
    with pytest.raises(ValueError, match="sha256 .* differs from the published"):
        fetch_published(tmp_path)
    (tmp_path / "Testtransdetalrunning1_0.tfrecords").unlink()
    with pytest.raises(FileNotFoundError, match="published feature file missing"):
        fetch_published(tmp_path)


def test_offline_download_failure_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    monkeypatch.delenv("MGMTFEAT_PUBLISHED_SOURCE", raising=False)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(FileNotFoundError, match="--published-source"):
        published_store()
    assert not any(tmp_path.rglob("*.tfrecords"))


def test_published_store_uses_cache(published_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    store = published_store(published_dir)
    assert len(store.case_ids("vivit")) == 577
    assert published_store().root == store.root  # second call: already imported, no source needed


def test_import_command(published_dir, tmp_path, capsys):
    from mgmtfeat.cli.import_published import main

    out = tmp_path / "store"
    assert main(["--source", str(published_dir), "--out", str(out)]) == 0
    assert "577 cases (276 unmethylated, 301 methylated)" in capsys.readouterr().out
    assert main(["--source", str(published_dir), "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["--source", str(tmp_path), "--out", str(tmp_path / "other")]) == 2
    assert "published feature file missing" in capsys.readouterr().err


def test_duplicate_records_are_refused(published_dir, tmp_path, monkeypatch):
    import mgmtfeat.store.published as published
    from mgmtfeat.store import StoreError

    doubled = tmp_path / "Testtransdetalrunning1_0.tfrecords"
    doubled.write_bytes((published_dir / doubled.name).read_bytes() * 2)
    monkeypatch.setattr(published, "fetch_published", lambda source: {doubled.name: doubled})
    with pytest.raises(StoreError, match=r"record 115: same content as Testtransdetalrunning1_0.tfrecords, record 0"):
        import_published(tmp_path / "store", tmp_path)
    assert not (tmp_path / "store").exists()  # nothing partial


def test_published_provenance_names_net_weights_sampling_and_scaling(published_store):
    prov = published_store.provenance("vivit")
    assert (prov["net"], prov["weights_id"], prov["sampling"]) == ("vivit", "google/vivit-b-16x2-kinetics400", "paper")
    assert prov["frame_indices"] == [1, 26, 51, 76, 101] + [126] * 27  # vivit's paper preset on 150-frame clips
    assert prov["scaling"]["method"] == "min-max" and prov["scaling"]["range"] == [0, 1]
