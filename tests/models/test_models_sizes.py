"""Models on fused inputs of different lengths (e.g. I3D's 400 logits and 107 radiomics features)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mgmtfeat.models import SNNClassifier
from conftest import two_net_store


def _fused(n=80, seed=0):
    """I3D-like noise (400) and a radiomics-like input (107) whose first features carry the label."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    i3d = rng.normal(size=(n, 400))
    radiomics = rng.normal(size=(n, 107)) * 50 + 1000  # other scale, as raw radiomics features
    radiomics[:, :5] += 40 * y[:, None]
    return np.hstack([i3d, radiomics]).astype(np.float32), y


@pytest.mark.parametrize("encoder, shared", [("linear", False), ("linear", True), ("conv", True)])
def test_snn_trains_and_predicts_on_inputs_of_their_own_lengths(encoder, shared):
    X, y = _fused()
    model = SNNClassifier(input_size=[400, 107], encoder=encoder, shared=shared, max_epochs=30, n_members=2,
                          validation_fraction=0, random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (80, 2) and model.n_inputs_ == 2
    assert roc_auc_score(y, proba[:, 1]) > 0.9  # it found the signal in the short input
    assert model.attention_weights(X).shape == (80, 2)
    if encoder == "linear":  # different lengths: one encoder per input even when shared was asked
        assert model.module_.enc_w.shape[1:3] == (2, 400)


def test_padding_never_feeds_one_input_into_another():
    X, y = _fused()
    inputs = SNNClassifier(input_size=[400, 107], standardize=False)._as_inputs(X)
    assert inputs.shape == (80, 2, 400)
    np.testing.assert_array_equal(inputs[:, 1, :107], X[:, 400:])
    assert not inputs[:, 1, 107:].any()


def test_sizes_that_do_not_add_up_are_refused():
    X, y = _fused()
    with pytest.raises(ValueError, match="sums to 500, but X has 507"):
        SNNClassifier(input_size=[400, 100], max_epochs=1).fit(X, y)




def test_the_cv_study_gives_the_snn_the_sizes_of_fused_nets(tmp_path):
    from mgmtfeat.experiments.cv_study import StudySettings, run_study

    two_net_store(tmp_path / "store")
    settings = StudySettings(features=str(tmp_path / "store"), nets=("i3d", "radiomics"), models=("snn", "logistic"),
                             modalities=("t1", "t1ce"), folds=2, repeats=1, out=str(tmp_path / "cv"),
                             model_params={"snn": {"max_epochs": 3, "n_members": 1}}, command=["test"])
    summary = run_study(settings, progress=False)
    assert set(summary["results"]) == {"snn", "logistic"} and summary["n_cases"] == 24
    assert len(summary["inputs"]["snn"]) == 4  # i3d:t1, i3d:t1ce (400 each), radiomics:t1, radiomics:t1ce (7 each)


def test_input_params_sizes_the_snn_and_leaves_the_rest():
    from mgmtfeat.models import input_params

    assert input_params("snn", None, [400, 400, 107]) == {"input_size": [400, 400, 107]}
    assert input_params("snn", {"max_epochs": 3}, [107, 107]) == {"max_epochs": 3, "input_size": 107}
    assert input_params("snn", None, [400, 400]) is None  # the default: unchanged, so cache keys stay
    assert input_params("snn", {"input_size": 50}, [400, 107]) == {"input_size": 50}  # the user's choice
    assert input_params("logistic", None, [400, 107]) is None


def test_a_bundle_of_the_snn_on_fused_nets_of_different_lengths_fits_and_predicts(tmp_path):
    import json

    from mgmtfeat.bundle import FitSettings, PredictSettings, fit_bundle, predict_bundle

    store = two_net_store(tmp_path / "store")
    fit_bundle(FitSettings(features=store.root, nets=["i3d", "radiomics"], model="snn", model_dir=tmp_path / "model",
                           modalities=["t1ce"], params={"max_epochs": 3, "n_members": 1}, command=["test"]))
    from mgmtfeat.bundle.record import RECORD_FILE

    record = json.loads((tmp_path / "model" / RECORD_FILE).read_text())
    assert record["model"]["params"]["input_size"] == [400, 7]
    predictions, _ = predict_bundle(PredictSettings(model_dir=tmp_path / "model", features=store.root,
                                                    out=tmp_path / "pred"))
    assert len(predictions) == 24
