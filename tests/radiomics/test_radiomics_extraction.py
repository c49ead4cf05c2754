"""`extract --net radiomics` into the store, nets of different lengths fused, export by name."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("radiomics")
pytest.importorskip("SimpleITK")

from mgmtfeat import MODALITIES, extract  # noqa: E402
from mgmtfeat.data.synthetic import write_cohort  # noqa: E402
from mgmtfeat.store import FeatureStore, StoreError  # noqa: E402

ARGS = ["--net", "radiomics", "--quiet"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", "brats2021", n_cases=3, shape=(48, 48, 32), seed=2)


@pytest.fixture(scope="module")
def extracted(cohort, tmp_path_factory):
    """The cohort with one case's segmentation emptied, extracted once."""
    import nibabel as nib

    data = tmp_path_factory.mktemp("broken") / "brats"
    shutil.copytree(cohort, data)
    victim = sorted(data.glob("BraTS2021_*"))[1]
    seg = victim / f"{victim.name}_seg.nii.gz"
    image = nib.load(seg)
    nib.save(nib.Nifti1Image(np.zeros(image.shape, np.uint8), image.affine), seg)
    out = tmp_path_factory.mktemp("store") / "store"
    code = extract.main(["--data", str(data), "--out", str(out), *ARGS])
    return data, out, victim.name, code


def test_radiomics_extraction_stores_named_vectors_and_records_a_failed_case(extracted, capsys):
    from mgmtfeat.radiomics import RadiomicsSettings, feature_names

    data, out, victim, code = extracted
    assert code == 1  # a case failed, the others are stored
    store = FeatureStore(out)
    assert victim not in store.case_ids("radiomics") and len(store.case_ids("radiomics")) == 2
    failures = (out / "radiomics" / "failures.csv").read_text()
    assert victim in failures and "segmentation is empty" in failures
    provenance = store.provenance("radiomics")
    names = feature_names(RadiomicsSettings())
    assert provenance["n_features"] == len(names) == 107 and provenance["feature_names"] == names
    assert provenance["radiomics"]["params_sha256"] == RadiomicsSettings().digest
    features = store.load("radiomics", require_labels=False)
    assert features.X.shape == (2, len(MODALITIES), 107)
    # resumable: the stored cases are skipped, the failed one is tried again
    assert extract.main(["--data", str(data), "--out", str(out), *ARGS]) == 1
    assert "0 cases extracted, 2 already in the store, 1 failed" in capsys.readouterr().out


def test_other_radiomics_settings_are_refused_without_force(extracted, capsys):
    data, out, _, _ = extracted
    assert extract.main(["--data", str(data), "--out", str(out), *ARGS, "--radiomics-label", "1,4"]) == 2
    assert "made with other settings" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [(["--radiomics-label", "a"], "integers"),
                                           (["--radiomics-params", "missing.yaml"], "does not exist")])
def test_bad_radiomics_arguments(cohort, tmp_path, capsys, argv, message):
    assert extract.main(["--data", str(cohort), "--out", str(tmp_path / "s"), *ARGS, *argv]) == 2
    assert message in capsys.readouterr().err


def _fake_i3d(store: FeatureStore, case_ids, labels, rng):
    store.write_provenance("i3d", {"weights": "test", "clips": {"n_frames": 150}})
    for case_id, label in zip(case_ids, labels):
        store.write_case("i3d", case_id, {m: rng.normal(size=400) for m in MODALITIES}, label)


def test_nets_of_different_lengths_load_as_a_concatenation(tmp_path):
    rng = np.random.default_rng(0)
    store = FeatureStore(tmp_path / "s")
    ids, labels = [f"c{i}" for i in range(4)], [0, 1, 0, 1]
    _fake_i3d(store, ids, labels, rng)
    store.write_provenance("radiomics", {"kind": "radiomics", "n_features": 7,
                                         "feature_names": [f"original_f{i}" for i in range(7)]})
    for case_id, label in zip(ids, labels):
        store.write_case("radiomics", case_id, {m: rng.normal(size=7) for m in MODALITIES}, label)
    with pytest.raises(StoreError, match="expected 7 feature values"):
        store.write_case("radiomics", "c9", {"t1": np.zeros(400)}, 0)
    data = store.load(["i3d", "radiomics"], ["t1", "t1ce"])
    assert data.sizes == (400, 400, 7, 7) and data.X2d.shape == (4, 814)
    with pytest.raises(StoreError, match="different lengths"):
        data.X
    np.testing.assert_array_equal(data.column("radiomics:t1ce"), data.X2d[:, 807:])
    np.testing.assert_array_equal(data.column("radiomics:t1ce")[0], store.read_case("radiomics", "c0")[0]["t1ce"])
    alone = data.select(["radiomics:t1", "radiomics:t1ce"])
    assert alone.X.shape == (4, 2, 7)  # one length again: 3-D
    assert data.subset(np.array([0, 2])).X2d.shape == (2, 814)
    table = store.to_frame(["i3d", "radiomics"], ["t1"])
    assert "radiomics:t1:original_f3" in table.columns and table.shape[1] == 2 + 2 + 400 + 7
    # the same stored float32 value by two readers (a table and a feature set): equal, so no tolerance
    np.testing.assert_allclose(table["radiomics:t1:original_f3"], data.column("radiomics:t1")[:, 3], rtol=0, atol=0)
