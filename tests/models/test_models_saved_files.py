"""Torch model files written before the models' modules were renamed keep loading and predicting the same."""

import json
from pathlib import Path

import numpy as np
import pytest

from mgmtfeat.models.persistence import load_estimator

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "torch_models_v1"


@pytest.mark.parametrize("name", ["snn_linear", "snn_conv", "mlp"])
def test_old_torch_model_files_load_and_predict_the_same(name):
    expected = json.loads((OLD / "expected.json").read_text())
    model = load_estimator(OLD, name)
    proba = model.predict_proba(np.asarray(expected["X"], dtype=np.float32))[:, 1]
    # The same float32 weights evaluated in float64 (see TorchClassifier._forward): equal to about
    # 1e-15 on any CPU; 1e-12 leaves room for a different BLAS summation order, far below any change of weights.
    np.testing.assert_allclose(proba, expected[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("encoder", ["linear", "conv"])
def test_saved_files_name_no_module_path(tmp_path, encoder):
    from mgmtfeat.models.persistence import save_estimator
    from mgmtfeat.models.snn import SNNClassifier

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((24, 8)).astype(np.float32), np.arange(24) % 2
    model = SNNClassifier(input_size=4, encoder=encoder, channels=2, n_blocks=1, n_members=2, max_epochs=2,
                          random_state=0).fit(X, y)
    save_estimator(model, tmp_path, "model")
    # the files name the class by its short name (persistence.torch_classes) and the weights by
    # attribute names: a module path stored there would stop loading at the next module rename
    text = (tmp_path / "model.json").read_text() + (tmp_path / "model.safetensors").read_bytes().decode("latin-1")
    assert "SNNClassifier" in text and "mgmtfeat." not in text
