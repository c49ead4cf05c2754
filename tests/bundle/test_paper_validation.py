"""The paper's external validation: a model fitted on the published features applied to a user's own store.

The published features carry no clip settings or dtype, so such a model checks what they share with an
extraction (weights, sampling, frame indices) and their scaling, and names the fix for each.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import write_random_store

from mgmtfeat.backbones import create_backbone
from mgmtfeat.bundle.from_mri import MriSettings, extraction_runs
from mgmtfeat.bundle.record import read_record
from mgmtfeat.clips import ClipSettings
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.cli.fit import main as fit
from mgmtfeat.cli.predict import main as predict
from mgmtfeat.store.published import published_provenance


@pytest.fixture(scope="module")
def published_model(tmp_path_factory):
    """A logistic model fitted on a store with the published import's provenance (random features)."""
    root = tmp_path_factory.mktemp("published")
    store = write_random_store(root / "train", n_cases=30, provenance=published_provenance())
    assert fit(["--model", "logistic", "--features", str(store.root), "--net", "vivit", "--model-dir",
                str(root / "m")]) == 0
    return root / "m"


def _user_store(root, sampling: str, weights_id: str = "google/vivit-b-16x2-kinetics400"):
    """A store as `extract --net vivit --sampling SAMPLING` writes its provenance (the real net's record)."""
    backbone = create_backbone("vivit", weights="random", sampling=sampling)
    provenance = {**backbone.provenance, "frame_indices": backbone.frame_indices(150), "weights_id": weights_id,
                  "random_weights": weights_id == "random"}
    return write_random_store(root, n_cases=10, seed=3, provenance=provenance)


def test_a_paper_sampled_store_is_predicted_with_cohort_minmax(published_model, tmp_path):
    store = _user_store(tmp_path / "s", "paper")
    out = tmp_path / "p"
    assert predict(["--model-dir", str(published_model), "--features", str(store.root), "--out", str(out),
                    "--scale", "cohort-minmax"]) == 0
    assert len(pd.read_csv(out / "predictions.csv")) == 10


def test_unscaled_paper_features_are_refused_naming_the_scaling(published_model, tmp_path, capsys):
    store = _user_store(tmp_path / "s", "paper")
    assert predict(["--model-dir", str(published_model), "--features", str(store.root),
                    "--out", str(tmp_path / "p")]) == 2
    assert "--scale cohort-minmax" in capsys.readouterr().err


@pytest.mark.parametrize("sampling, weights_id, field", [("uniform", "google/vivit-b-16x2-kinetics400", "sampling"),
                                                         ("paper", "random", "weights_id")])
def test_other_frames_or_weights_are_refused_naming_the_fix(published_model, tmp_path, capsys, sampling, weights_id,
                                                            field):
    store = _user_store(tmp_path / "s", sampling, weights_id)
    assert predict(["--model-dir", str(published_model), "--features", str(store.root), "--out", str(tmp_path / "p"),
                    "--scale", "cohort-minmax"]) == 2
    err = capsys.readouterr().err
    assert f"{field}: published" in err and "--sampling paper" in err


def test_predict_from_mri_extracts_as_the_authors_did(published_model, tmp_path):
    record = read_record(published_model)
    ((nets, settings, _),) = extraction_runs(record, MriSettings(tmp_path), "out")
    assert nets == ["vivit"] and settings.sampling == "paper" and settings.clip_settings == ClipSettings()
    assert settings.weights == {"vivit": None}  # the net's own source: google/vivit-b-16x2-kinetics400


def test_predict_from_mri_with_other_weights_is_refused_before_any_case(published_model, tmp_path, capsys):
    cohort = write_cohort(tmp_path / "data", layout="brats2021", n_cases=2, shape=(48, 48, 24), seed=1)
    assert predict(["--model-dir", str(published_model), "--data", str(cohort), "--features", str(tmp_path / "s"),
                    "--out", str(tmp_path / "p"), "--weights", "vivit=random", "--scale", "cohort-minmax"]) == 2
    err = capsys.readouterr().err
    assert "weights_id: model 'google/vivit-b-16x2-kinetics400', here 'random'" in err
    assert "--weights vivit=PATH (google/vivit-b-16x2-kinetics400)" in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "p").exists()
