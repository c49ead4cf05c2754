"""Fitted estimators saved and loaded give the same probabilities; untrusted or damaged files are refused."""

import os

import numpy as np
import pytest

from mgmtfeat.models import MODELS, make_model
from mgmtfeat.models.persistence import ModelFileError, load_estimator, save_estimator


def _data(n=60, n_classes=2, n_inputs=5):
    rng = np.random.default_rng(0)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, n_inputs, 400)).astype(np.float32)
    X[:, 0, :20] += y[:, None]
    return X.reshape(n, -1), y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_gives_identical_probabilities(tmp_path, name, n_classes):
    n_inputs = len(MODELS[name].modalities)
    X, y = _data(n_classes=n_classes, n_inputs=n_inputs)
    model = make_model(name, random_state=0)
    if hasattr(model, "max_epochs"):
        model.set_params(max_epochs=3)
    model.fit(X, y)
    save_estimator(model, tmp_path, "model")
    loaded = load_estimator(tmp_path, "model")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))  # the same weights: exact
    np.testing.assert_array_equal(loaded.classes_, model.classes_)


def test_untrusted_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = _data()
    model = make_model("logistic", random_state=0).fit(X, y)
    sneaky = Pipeline([("f", FunctionTransformer(os.system)), *model.steps])
    (tmp_path / "model.skops").write_bytes(sio.dumps(sneaky))
    with pytest.raises(ModelFileError, match="never contain"):
        load_estimator(tmp_path, "model")


def test_missing_and_damaged_files_are_named(tmp_path):
    with pytest.raises(ModelFileError, match="no model file model.skops"):
        load_estimator(tmp_path, "model")
    X, y = _data()
    save_estimator(make_model("mlp", random_state=0).set_params(max_epochs=1).fit(X[:, 800:1200], y), tmp_path, "mlp")
    path = tmp_path / "mlp.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="cannot read"):
        load_estimator(tmp_path, "mlp")
    (tmp_path / "lr.skops").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelFileError, match="not a readable skops file"):
        load_estimator(tmp_path, "lr")
