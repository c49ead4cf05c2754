"""Tests for mgmtfeat.synthetic: seeded cohorts in the three layouts, plausible phantoms, the labels
(tumour type, site, age, sex, MGMT) and the signals the images carry."""

import hashlib

import numpy as np
import pandas as pd
import pydicom
import pytest

from mgmtfeat.data import phantoms, synthetic
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.data.volumes import load_case

SHAPE = (32, 32, 16)
TYPE_SHAPE = (64, 64, 40)  # small metastases need a few voxels


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".dcm"):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_phantom_tissues_labels_and_contrasts():
    images, seg = synthetic.phantom(SHAPE, label=0, seed=1)
    assert set(images) == {"flair", "t1", "t1ce", "t2"}
    assert all(v.shape == SHAPE and v.dtype == np.int16 for v in images.values())
    assert set(np.unique(seg)) == {0, 1, 2, 4}
    brain = images["t1"] > 0
    assert brain.mean() > 0.2 and not brain[0, 0, 0]  # head-shaped, zero background
    assert np.all(brain[seg > 0])  # the tumour is inside the brain
    rim, core, oedema = seg == 4, seg == 1, seg == 2
    assert images["t1ce"][rim].mean() > 1.5 * images["t1"][rim].mean()  # enhancing rim
    assert images["t1ce"][core].mean() < images["t1ce"][rim].mean() / 2  # necrotic core is dark
    assert images["flair"][oedema].mean() > images["flair"][brain & (seg == 0)].mean()  # oedema bright


def _fractions(seg):
    """Necrotic share of the tumour core, enhancing share of the lesion, oedema / core volume."""
    core = np.isin(seg, (1, 4)).sum()
    return (seg == 1).sum() / core, (seg == 4).sum() / (seg > 0).sum(), (seg == 2).sum() / core


def test_mgmt_label_changes_imaging_in_its_direction():
    def fractions(label, effect):
        return np.mean([_fractions(synthetic.phantom(TYPE_SHAPE, label=label, seed=s, mgmt_effect=effect)[1])
                        for s in range(4)], axis=0)

    # a strong effect shows the direction: methylated tumours have a larger necrotic share, less oedema
    (necrotic1, _, oedema1), (necrotic0, _, oedema0) = fractions(1, 3.0), fractions(0, 3.0)
    assert necrotic1 > necrotic0 + 0.1 and oedema1 < 0.8 * oedema0
    # the latent phenotype's noise is the same draw for both labels: no effect, identical images
    images0, seg0 = synthetic.phantom(SHAPE, label=0, seed=3, mgmt_effect=0.0)
    images1, seg1 = synthetic.phantom(SHAPE, label=1, seed=3, mgmt_effect=0.0)
    np.testing.assert_array_equal(seg0, seg1)
    np.testing.assert_array_equal(images0["t1ce"], images1["t1ce"])


def test_default_mgmt_signal_is_weak_and_noisy():
    # per case the necrotic share overlaps between labels (the label only partly sets it)
    shares = {label: [necrotic for necrotic, _, _ in (_fractions(synthetic.phantom(
        TYPE_SHAPE, label=label, seed=s)[1]) for s in range(6))] for label in (0, 1)}
    assert min(shares[1]) < max(shares[0])
    assert 0.5 < synthetic.MGMT_EFFECT <= 1.5  # the latent AUC Phi(sqrt(2) * effect) is 0.76-0.98


def test_tumour_types_differ_in_shape_enhancement_and_oedema():
    from scipy.ndimage import label as components

    stats = {}
    for kind in phantoms.TUMOUR_TYPES:
        rows = []
        for seed in range(4):
            images, seg = synthetic.phantom(TYPE_SHAPE, seed=seed, tumour_type=kind, mgmt_effect=0.0)
            wm = np.median(images["t1ce"][(images["t1"] > 700) & (seg == 0)])  # white matter
            enhancing = images["t1ce"][seg == 4].mean() / wm if (seg == 4).any() else 0.0
            rows.append((*_fractions(seg), enhancing, components(seg > 0)[1]))
        stats[kind] = np.mean(rows, axis=0)
    necrotic, enhancing_share, oedema, uptake, lesions = (
        {k: v[i] for k, v in stats.items()} for i in range(5))
    assert necrotic["glioblastoma"] > 0.1 > necrotic["lymphoma"]  # ring with a core vs solid
    assert oedema["metastasis"] > 2 * oedema["glioblastoma"] > 2 * oedema["lymphoma"]  # disproportionate
    assert uptake["metastasis"] > uptake["glioblastoma"] > uptake["lymphoma"] > 1.0 > uptake["low_grade_glioma"]
    assert enhancing_share["lymphoma"] > enhancing_share["glioblastoma"] and enhancing_share["low_grade_glioma"] == 0
    assert max(lesions.values()) == lesions["metastasis"] > 1  # sometimes several


def test_sites_shift_intensities_and_are_fixed():
    assert phantoms.site_profile(0) == phantoms.Site("A")  # the reference scanner is neutral
    b = phantoms.site_profile(1)
    assert b == phantoms.site_profile(1) and b.name == "B" and b != phantoms.site_profile(2)
    assert abs(b.scale - 1) > 0.05 and b.gamma != 1 and b.noise > phantoms.site_profile(0).noise
    a_images, a_seg = synthetic.phantom(SHAPE, seed=5, site=0)
    b_images, b_seg = synthetic.phantom(SHAPE, seed=5, site=1)
    np.testing.assert_array_equal(a_seg, b_seg)  # same anatomy, another scanner
    wm = (a_images["t1"] > 700) & (a_seg == 0)
    ratio = np.median(b_images["t1"][wm]) / np.median(a_images["t1"][wm])
    assert abs(ratio - 1) > 0.05
    with pytest.raises(ValueError, match="site index"):
        phantoms.site_profile(-1)


@pytest.mark.parametrize("layout", ["brats2021", "rsna_dicom", "ucsf_pdgm"])
def test_labels_csv_columns_classes_and_sites(tmp_path, layout):
    root = synthetic.write_cohort(tmp_path / "c", layout, n_cases=7, shape=SHAPE, seed=4, n_sites=2)
    table = pd.read_csv(root / "labels.csv", dtype={"case_id": str})  # RSNA ids are digits: 00081
    assert list(table.columns) == ["case_id", "mgmt", "tumour_type", "site", "age", "sex"]
    refs = find_cases(root)
    assert sorted(table.case_id) == [r.case_id for r in refs]  # the store's case ids
    by_id = table.set_index("case_id")
    for ref in refs:  # the layout's own label file agrees (UCSF: one indeterminate, unlabelled)
        assert (pd.isna(by_id.mgmt[ref.case_id]) if ref.label is None else by_id.mgmt[ref.case_id] == ref.label)
    assert set(table.tumour_type) == {"glioblastoma", "metastasis", "lymphoma"}
    assert table.tumour_type.value_counts().tolist() == [3, 2, 2]  # balanced
    assert sorted(table.site.unique()) == ["A", "B"] and set(table.sex) == {"M", "F"} or len(set(table.sex)) == 1
    assert table.age.dtype == np.int64 and table.age.between(18, 90).all()
    assert set(table.mgmt.dropna()) <= {0, 1}
    readme = (root / "README.txt").read_text()
    assert all(word in readme for word in ("tumour_type", "site", "mgmt", "B: scale"))


def test_cohort_options_first_site_tumour_types(tmp_path):
    root = synthetic.write_cohort(tmp_path / "h2", n_cases=8, shape=SHAPE, seed=9, n_sites=1, first_site=2,
                                  n_tumour_types=4)
    table = pd.read_csv(root / "labels.csv")
    assert set(table.site) == {"C"} and set(table.tumour_type) == set(phantoms.TUMOUR_TYPES)


@pytest.mark.parametrize("layout", ["brats2021", "rsna_dicom", "ucsf_pdgm"])
def test_cohort_is_seeded_and_readable(tmp_path, layout):
    a = synthetic.write_cohort(tmp_path / "a", layout, n_cases=4, shape=SHAPE, seed=7)
    b = synthetic.write_cohort(tmp_path / "b", layout, n_cases=4, shape=SHAPE, seed=7)
    c = synthetic.write_cohort(tmp_path / "c", layout, n_cases=4, shape=SHAPE, seed=8)
    refs = find_cases(a)
    assert len(refs) == 4 and {r.layout for r in refs} == {layout}
    assert sorted(r.label for r in refs) == [0, 0, 1, 1]  # balanced
    case_a = load_case(refs[0])
    case_b = load_case(find_cases(b)[0])
    np.testing.assert_array_equal(case_a.volumes["t1ce"].data, case_b.volumes["t1ce"].data)
    assert not np.array_equal(case_a.volumes["t1ce"].data, load_case(find_cases(c)[0]).volumes["t1ce"].data) \
        or refs[0].case_id != find_cases(c)[0].case_id
    if layout != "rsna_dicom":
        assert _digest(a) == _digest(b) != _digest(c)  # byte-identical files for one seed
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes() != (c / "labels.csv").read_bytes()


def test_rsna_series_are_real_dicom_in_mixed_planes(tmp_path):
    root = synthetic.write_cohort(tmp_path / "r", "rsna_dicom", n_cases=3, shape=SHAPE, seed=2)
    orientations = set()
    for path in root.glob("train/*/*/Image-1.dcm"):
        assert path.read_bytes()[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        assert ds.Modality == "MR" and ds.SOPClassUID == pydicom.uid.MRImageStorage
        orientations.add(tuple(round(float(v)) for v in ds.ImageOrientationPatient))
    assert len(list(root.glob("train/*/*/Image-1.dcm"))) == 12
    assert len(orientations) > 1
    labels = pd.read_csv(root / "train_labels.csv", dtype=str)
    assert list(labels.columns) == ["BraTS21ID", "MGMT_value"] and all(len(i) == 5 for i in labels.BraTS21ID)


def test_refuses_non_empty_root_and_bad_arguments(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("keep me")
    with pytest.raises(FileExistsError):
        synthetic.write_cohort(tmp_path / "x", shape=SHAPE)
    with pytest.raises(ValueError, match="layout"):
        synthetic.write_cohort(tmp_path / "y", layout="nifti", shape=SHAPE)
    with pytest.raises(ValueError, match="n_cases"):
        synthetic.write_cohort(tmp_path / "z", n_cases=0, shape=SHAPE)
    for bad, match in [({"n_tumour_types": 5}, "n_tumour_types"), ({"n_sites": 0}, "n_sites"),
                       ({"first_site": -1}, "first_site"), ({"mgmt_effect": -0.5}, "mgmt_effect")]:
        with pytest.raises(ValueError, match=match):
            synthetic.write_cohort(tmp_path / "w", shape=SHAPE, **bad)
    with pytest.raises(ValueError, match="tumour_type"):
        synthetic.phantom(SHAPE, tumour_type="meningioma")


def test_command_line(tmp_path, capsys):
    from mgmtfeat.cli import synthetic as command

    out = tmp_path / "ucsf"
    argv = ["--out", str(out), "--layout", "ucsf_pdgm", "--cases", "2", "--shape", "24", "24", "12"]
    assert command.main(argv) == 0
    assert len(find_cases(out)) == 2
    assert command.main(["--out", str(out), "--cases", "2"]) == 2  # refuses a non-empty folder
    assert "not empty" in capsys.readouterr().err
    other = tmp_path / "hospital"
    assert command.main(["--out", str(other), "--cases", "4", "--shape", "24", "24", "12", "--sites", "2",
                         "--first-site", "1", "--tumour-types", "2", "--mgmt-effect", "0.3", "--seed", "5"]) == 0
    printed = capsys.readouterr().out
    assert "mgmt_effect 0.3" in printed and "C: scale" in printed  # the signals are reported
    table = pd.read_csv(other / "labels.csv")
    assert set(table.site) == {"B", "C"} and set(table.tumour_type) == {"glioblastoma", "metastasis"}
    settings = (other / "settings.yaml").read_text()
    assert "mgmt-effect: 0.3" in settings and "tumour-types: 2" in settings


def test_a_second_hospital_shares_no_case_id_with_the_first(tmp_path):
    first = synthetic.write_cohort(tmp_path / "a", n_cases=6, shape=SHAPE, seed=0)
    second = synthetic.write_cohort(tmp_path / "b", n_cases=6, shape=SHAPE, seed=0, first_site=2)
    ids = [set(pd.read_csv(root / "labels.csv", dtype={"case_id": str})["case_id"]) for root in (first, second)]
    assert len(ids[0]) == len(ids[1]) == 6 and not ids[0] & ids[1]
