"""`mgmtfeat predict --data`: MRI to predictions with the model's own extraction, equal to extract-then-predict."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.cli import extract
from mgmtfeat.bundle.from_mri import MriSettings, extraction_runs
from mgmtfeat.bundle.record import BundleError, read_record
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.cli.fit import main as fit
from mgmtfeat.cli.predict import main as predict
from mgmtfeat.store import FeatureStore

# a small random-weight SlowFast on short, small inputs keeps these tests fast (as in test_extract.py)
NET = ["--net", "slowfast", "--weights", "random", "--net-frames", "8", "--net-size", "64", "--threads", "1"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=6,
                        shape=(48, 48, 24), seed=4)


@pytest.fixture(scope="module")
def model(cohort, tmp_path_factory):
    """Features extracted with non-default clip settings, and a model fitted on them."""
    root = tmp_path_factory.mktemp("trained")
    assert extract.main(["--data", str(cohort), "--out", str(root / "store"), *NET, "--frames", "40",
                         "--box-size", "32", "--quiet"]) == 0
    assert fit(["--model", "logistic", "--features", str(root / "store"), "--net", "slowfast",
                "--model-dir", str(root / "model")]) == 0
    return root


def _proba(folder):
    frame = pd.read_csv(folder / "predictions.csv", dtype={"case_id": str, "predicted": str})
    return frame["case_id"].tolist(), frame[["prob_0", "prob_1"]].to_numpy()


def test_predict_from_mri_equals_extract_then_predict(cohort, model, tmp_path, capsys):
    assert predict(["--model-dir", str(model / "model"), "--features", str(model / "store"),
                    "--out", str(tmp_path / "two-steps")]) == 0
    assert predict(["--model-dir", str(model / "model"), "--data", str(cohort), "--out", str(tmp_path / "one"),
                    "--threads", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "6 cases predicted from MRI (a temporary store, removed)" in printed
    assert "s per case" in printed and "peak memory" in printed
    ids, expected = _proba(tmp_path / "two-steps")
    got_ids, got = _proba(tmp_path / "one")
    assert got_ids == ids
    np.testing.assert_array_equal(got, expected)  # the same extraction and estimator: bit for bit
    provenance = json.loads((tmp_path / "one" / "provenance.json").read_text())
    assert provenance["extraction"]["cases_extracted"] == 6 and provenance["extraction"]["temporary_store"]
    assert provenance["extraction"]["seconds_per_case"] > 0 and provenance["scaling"] == {"method": "none"}


def test_named_store_is_kept_and_resumed(cohort, model, tmp_path, capsys):
    store = tmp_path / "new-store"
    argv = ["--model-dir", str(model / "model"), "--data", str(cohort), "--features", str(store), "--threads", "1",
            "--quiet"]
    assert predict([*argv, "--out", str(tmp_path / "a")]) == 0
    trained = FeatureStore(model / "store").provenance("slowfast")
    kept = FeatureStore(store).provenance("slowfast")
    assert kept["clips"] == trained["clips"] and kept["clips"]["n_frames"] == 40 and kept["num_frames"] == 8
    assert predict([*argv, "--out", str(tmp_path / "b")]) == 0  # every case already in the store
    assert json.loads((tmp_path / "b" / "provenance.json").read_text())["extraction"]["cases_already_in_store"] == 6
    np.testing.assert_array_equal(_proba(tmp_path / "a")[1], _proba(tmp_path / "b")[1])


def test_settings_come_from_the_model_folder(cohort, model):
    record = read_record(model / "model")
    ((nets, settings, modalities),) = extraction_runs(record, MriSettings(cohort), "out")
    assert nets == ["slowfast"] and modalities is None
    assert settings.weights == {"slowfast": "random"} and (settings.num_frames, settings.size) == (8, 64)
    assert settings.clip_settings.n_frames == 40 and settings.clip_settings.box_size == 32
    assert settings.dtype == record.provenance["slowfast"]["dtype"]


def test_nets_made_alike_share_one_run_and_radiomics_runs_alone(cohort, model):
    record = read_record(model / "model")
    prov = record.provenance["slowfast"]
    other = {**prov, "net": "r2plus1d", "random_weights": False}
    radiomics = {"kind": "radiomics", "radiomics": {"labels": [4], "modalities": ["t1ce", "t2"],
                                                    "params_sha256": "0" * 64, "params_file": "mine.yaml"}}
    record = replace(record, nets=["slowfast", "r2plus1d", "radiomics"],
                     features={"provenance": {"slowfast": prov, "r2plus1d": other, "radiomics": radiomics}})
    with pytest.raises(BundleError, match="params file mine.yaml .* --radiomics-params FILE"):
        extraction_runs(record, MriSettings(cohort), "out")
    mri = MriSettings(cohort, weights={"r2plus1d": "r2.pt"}, radiomics_params="mine.yaml")
    (nets, video, _), (_, rad, modalities) = extraction_runs(record, mri, "out")
    assert nets == ["slowfast", "r2plus1d"] and video.net == "slowfast,r2plus1d"  # read and clipped once for both
    assert video.weights == {"slowfast": "random", "r2plus1d": "r2.pt"}
    assert rad.net == "radiomics" and rad.radiomics_labels == (4,) and modalities == ("t1ce", "t2")
    record.provenance["r2plus1d"] = {**other, "num_frames": 16}  # another net input: its own run
    assert [r[0] for r in extraction_runs(record, mri, "out")] == [["slowfast"], ["r2plus1d"], ["radiomics"]]


def test_an_extraction_that_would_differ_is_refused_before_any_case(cohort, model, tmp_path, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    for path in (model / "model").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    record = json.loads((folder / "model.json").read_text())
    record["features"]["provenance"]["slowfast"]["random_weights"] = False  # as if made with real weights
    record["features"]["provenance"]["slowfast"]["weights_sha256"] = "ab" * 32
    (folder / "model.json").write_text(json.dumps(record))
    assert predict(["--model-dir", str(folder), "--data", str(cohort), "--features", str(tmp_path / "s"),
                    "--out", str(tmp_path / "p"), "--weights", "slowfast=random"]) == 2
    err = capsys.readouterr().err
    assert "net slowfast" in err and "weights_sha256" in err and "--weights slowfast=PATH" in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "p").exists()


def test_radiomics_model_with_recorded_inputs_and_params(cohort, tmp_path, capsys):
    pytest.importorskip("radiomics")
    from mgmtfeat.extraction.radiomics import extract_radiomics
    from mgmtfeat.extraction.run import ExtractionSettings

    params = tmp_path / "quick.yaml"  # no resampling, two classes: fast
    params.write_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  glcm:\nsetting:\n  binCount: 16\n")
    settings = ExtractionSettings(data=str(cohort), out=str(tmp_path / "store"), net="radiomics",
                                  radiomics_params=str(params), radiomics_labels=(1, 4))
    report = extract_radiomics(settings, progress=False, modalities=("t1ce",))  # one input
    assert len(report.done) == 6
    assert fit(["--model", "logistic", "--features", str(tmp_path / "store"), "--net", "radiomics",
                "--modalities", "t1ce", "--model-dir", str(tmp_path / "m")]) == 0
    assert predict(["--model-dir", str(tmp_path / "m"), "--features", str(tmp_path / "store"),
                    "--out", str(tmp_path / "two")]) == 0
    argv = ["--model-dir", str(tmp_path / "m"), "--data", str(cohort), "--quiet"]
    assert predict([*argv, "--out", str(tmp_path / "p")]) == 2  # the params file is not the shipped one
    assert "--radiomics-params FILE" in capsys.readouterr().err
    assert predict([*argv, "--out", str(tmp_path / "one"), "--radiomics-params", str(params),
                    "--features", str(tmp_path / "new")]) == 0
    np.testing.assert_array_equal(_proba(tmp_path / "one")[1], _proba(tmp_path / "two")[1])
    other = tmp_path / "other.yaml"
    other.write_text(params.read_text().replace("16", "8"))
    assert predict([*argv, "--out", str(tmp_path / "q"), "--radiomics-params", str(other)]) == 2
    err = capsys.readouterr().err
    assert "radiomics.params_sha256: model" in err and "--radiomics-params FILE (quick.yaml, sha256" in err
    made = FeatureStore(tmp_path / "new").provenance("radiomics")["radiomics"]
    assert made["modalities"] == ["t1ce"] and made["labels"] == [1, 4]


def test_a_failing_case_is_listed_and_the_others_are_predicted(cohort, model, tmp_path, capsys):
    import shutil

    data = tmp_path / "brats"
    shutil.copytree(cohort, data)
    victim = sorted(data.glob("BraTS2021_*"))[2]
    (victim / f"{victim.name}_flair.nii.gz").write_bytes(b"not a NIfTI file")
    assert predict(["--model-dir", str(model / "model"), "--data", str(data), "--out", str(tmp_path / "p"),
                    "--threads", "1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"failed: case {victim.name}" in err and "flair" in err
    ids = _proba(tmp_path / "p")[0]
    assert len(ids) == 5 and victim.name not in ids
    assert json.loads((tmp_path / "p" / "provenance.json").read_text())["failed_cases"] == [victim.name]
    failures = pd.read_csv(tmp_path / "p" / "failures.csv", dtype=str)
    assert failures["case_id"].tolist() == [victim.name] and failures["file"][0].endswith("_flair.nii.gz")


def test_options_of_data_only_are_refused_without_it(model, tmp_path, capsys):
    assert predict(["--model-dir", str(model / "model"), "--features", str(model / "store"), "--out",
                    str(tmp_path / "p"), "--saliency"]) == 2
    assert "apply to --data only" in capsys.readouterr().err
    assert predict(["--model-dir", str(model / "model"), "--out", str(tmp_path / "p")]) == 2
    assert "give --features STORE" in capsys.readouterr().err


def test_saliency_maps_for_every_predicted_case(cohort, model, tmp_path):
    assert predict(["--model-dir", str(model / "model"), "--data", str(cohort), "--out", str(tmp_path / "p"),
                    "--threads", "1", "--quiet", "--exclude", *sorted(p.name for p in cohort.glob("BraTS*"))[2:],
                    "--saliency", "t2"]) == 0
    table = pd.read_csv(tmp_path / "p" / "saliency" / "saliency.csv", dtype={"case_id": str})
    assert table["case_id"].tolist() == _proba(tmp_path / "p")[0] and len(table) == 2
    assert (table["modality"] == "t2").all()
    assert len(list((tmp_path / "p" / "saliency").glob("*_saliency.nii.gz"))) == 2


def test_saliency_that_cannot_be_served_fails_before_the_extraction(cohort, model, tmp_path, capsys):
    argv = ["--model-dir", str(model / "model"), "--data", str(cohort), "--out", str(tmp_path / "p"), "--features",
            str(tmp_path / "s")]
    assert predict([*argv, "--saliency", "pd"]) == 2
    assert "--modality 'pd': unknown" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() and not (tmp_path / "p" / "predictions.csv").exists()
