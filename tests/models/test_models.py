import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from mgmtfeat.models import MODELS, MLPClassifier, SNNClassifier, make_model


def _quick(cls, **kw):
    # enough epochs and no hold-out, so sklearn's training-accuracy check can pass
    return cls(max_epochs=60, validation_fraction=0, random_state=0, **kw)


@parametrize_with_checks(
    [_quick(SNNClassifier, input_size=None), _quick(SNNClassifier, input_size=None, encoder="linear"),
     _quick(MLPClassifier)],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _toy(n=120, n_inputs=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, n_inputs, 400)).astype(np.float32)
    X[:, 2, :30] += 1.0 * y[:, None]  # signal in input 2 only
    return X.reshape(n, -1), y


@pytest.mark.parametrize("params", [dict(), dict(encoder="linear"), dict(shared=False), dict(modality_dropout=0.3)])
def test_snn_is_deterministic_and_gives_attention(params):
    X, y = _toy(n=60)
    model = SNNClassifier(random_state=3, max_epochs=5, **params).fit(X[:40], y[:40])
    check_is_fitted(model)
    p = model.predict_proba(X[40:])
    # K float32 probabilities sum to 1 within a few K * eps, however the CPU orders the sums: 16 eps
    assert p.shape == (20, 2) and np.allclose(p.sum(1), 1, rtol=0, atol=16 * np.finfo(np.float32).eps)
    again = clone(model).fit(X[:40], y[:40]).predict_proba(X[40:])
    np.testing.assert_array_equal(p, again)  # the same seed on the same CPU: bit-identical (both runs here)
    other_seed = clone(model).set_params(random_state=4).fit(X[:40], y[:40]).predict_proba(X[40:])
    assert not np.array_equal(p, other_seed)
    weights = model.attention_weights(X[40:])
    # 5 float32 softmax weights: 1 within a few K * eps (6e-7) on any CPU; 1e-5 with margin
    assert weights.shape == (20, 5) and np.allclose(weights.sum(1), 1, rtol=0, atol=1e-5)


@pytest.mark.parametrize("encoder", ["conv", "linear"])
def test_snn_learns_and_attends_to_the_informative_input(encoder):
    from sklearn.metrics import roc_auc_score

    X, y = _toy(n=300)
    model = SNNClassifier(encoder=encoder, shared=False, random_state=3).fit(X[:200], y[:200])
    assert roc_auc_score(y[200:], model.predict_proba(X[200:])[:, 1]) > 0.9
    assert model.attention_weights(X[200:]).mean(0).argmax() == 2


def test_shared_weights_are_shared():
    X, y = _toy(n=40)
    shared = SNNClassifier(max_epochs=1, random_state=0).fit(X, y)
    separate = SNNClassifier(max_epochs=1, shared=False, random_state=0).fit(X, y)
    n_shared = sum(p.numel() for p in shared.module_.encoder.parameters())
    n_separate = sum(p.numel() for p in separate.module_.encoder.parameters())
    # integer parameter counts: five encoders instead of one, give or take per-input parts (< 1 %)
    assert n_separate == pytest.approx(5 * n_shared, rel=0.01)


def test_early_stopping_never_sees_rows_outside_fit(monkeypatch):
    """The validation split for early stopping is carved from the rows given to fit only."""
    X, y = _toy(n=100)
    seen = {}
    original = SNNClassifier._split

    def spy(self, n, target, seed):
        train, val = original(self, n, target, seed)
        seen["n"], seen["train"], seen["val"] = n, train, val
        return train, val

    monkeypatch.setattr(SNNClassifier, "_split", spy)
    SNNClassifier(max_epochs=2, random_state=0).fit(X[:70], y[:70])
    assert seen["n"] == 70 and set(seen["train"]) | set(seen["val"]) == set(range(70))
    assert not set(seen["train"]) & set(seen["val"]) and len(seen["val"]) == round(0.15 * 70)


def test_standardisation_uses_training_rows_only():
    X, y = _toy(n=60)
    model = MLPClassifier(max_epochs=1, random_state=0).fit(X[:40], y[:40])
    # float32 means of 40 values of size ~1, summed in another order than numpy's: a few ulp; 1e-5 relative
    # (1e-6 absolute for means near 0), while the mean of other rows differs by ~0.1
    np.testing.assert_allclose(model.mean_, X[:40].mean(0), rtol=1e-5, atol=1e-6)


def test_mlp_and_ensemble():
    X, y = _toy()
    single = MLPClassifier(random_state=0, max_epochs=20).fit(X[:80, 800:1200], y[:80])
    ensemble = MLPClassifier(random_state=0, max_epochs=20, n_members=3).fit(X[:80, 800:1200], y[:80])
    assert len(ensemble.history_) == 3 and ensemble.predict(X[80:, 800:1200]).shape == (40,)
    assert single.score(X[80:, 800:1200], y[80:]) > 0.7


def test_one_class_and_bad_input_size():
    X, y = _toy(n=20)
    with pytest.raises(ValueError, match="only one class"):
        SNNClassifier().fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="not a whole number of inputs of input_size=400"):
        SNNClassifier().fit(X[:, :450], y)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_models_fit_in_cross_validation(name):
    X, y = _toy(n=60)
    X = X.reshape(60, 5, 400)[:, list(range(5)) if MODELS[name].modalities != ("t1ce",) else [2]].reshape(60, -1)
    model = make_model(name, random_state=0)
    if hasattr(model, "max_epochs"):
        model.set_params(max_epochs=5)
    scores = cross_val_score(model, X, y, cv=3, scoring="roc_auc")
    assert np.all(np.isfinite(scores))


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'nope'; choose from snn"):
        make_model("nope")


def _three_classes(n=240, seed=0):
    """Three classes, each shifting its own block of 30 features of input 2 (string labels)."""
    rng = np.random.default_rng(seed)
    y = np.array(["glioblastoma", "lymphoma", "metastasis"])[np.arange(n) % 3]
    X = rng.normal(size=(n, 5, 400)).astype(np.float32)
    for k, name in enumerate(np.unique(y)):
        X[y == name, 2, 30 * k:30 * (k + 1)] += 1.5
    return X.reshape(n, -1), y


@pytest.mark.parametrize("model", [SNNClassifier(encoder="linear", shared=False, random_state=0),
                                   MLPClassifier(random_state=0)])
def test_torch_models_learn_three_classes(model):
    from sklearn.metrics import roc_auc_score

    X, y = _three_classes()
    model.fit(X[:180], y[:180])
    p = model.predict_proba(X[180:])
    assert list(model.classes_) == ["glioblastoma", "lymphoma", "metastasis"]
    assert p.shape == (60, 3) and np.allclose(p.sum(axis=1), 1, rtol=0, atol=16 * np.finfo(np.float32).eps)  # K eps
    assert roc_auc_score(y[180:], p, multi_class="ovr") > 0.9
    assert set(model.predict(X[180:])) <= set(model.classes_)
    np.testing.assert_array_equal(model.predict(X[180:]), model.classes_[p.argmax(axis=1)])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_models_predict_three_classes(name):
    X, names = _three_classes(n=90)
    y = np.unique(names, return_inverse=True)[1]  # the evaluation step encodes classes as 0..K-1 (XGBoost needs it)
    X = X.reshape(90, 5, 400)[:, list(range(5)) if MODELS[name].modalities != ("t1ce",) else [2]].reshape(90, -1)
    model = make_model(name, random_state=0)
    if hasattr(model, "max_epochs"):
        model.set_params(max_epochs=5)
    p = model.fit(X[:60], y[:60]).predict_proba(X[60:])
    # K = 3 probabilities (float32 for some models) sum to 1 within a few K * eps on any CPU: 16 eps
    assert p.shape == (30, 3) and np.allclose(p.sum(axis=1), 1, rtol=0, atol=16 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("params", [dict(), dict(modality_dropout=0.3, shared=True), dict(validation_fraction=0),
                                    dict(max_epochs=60, patience=3)])
def test_stacked_members_equal_members_trained_one_by_one(params):
    """One stacked network for all members gives the members that one-by-one training gives."""
    X, y = _toy(n=120)
    model = make_model("snn", random_state=5).set_params(max_epochs=15, n_members=3).set_params(**params)
    stacked = clone(model).fit(X[:90], y[:90])
    one_by_one = clone(model).set_params(stack_members=False).fit(X[:90], y[:90])
    assert stacked.n_epochs_ == one_by_one.n_epochs_
    if params.get("patience"):  # members stop at different epochs: the stack sheds them and trains on without them
        assert len(set(stacked.n_epochs_)) > 1 and max(stacked.n_epochs_) < 60
    # the same arithmetic in other batch shapes: float32 rounding (~1e-7 per step, ordered by the kernels and
    # the CPU's vector width) over a few hundred steps; 1e-5 of probabilities, while another member's weights
    # or another epoch count moves them by ~1e-2
    np.testing.assert_allclose(stacked.predict_proba(X[90:]), one_by_one.predict_proba(X[90:]), rtol=0, atol=1e-5)
    np.testing.assert_allclose(stacked.attention_weights(X[90:]), one_by_one.attention_weights(X[90:]), rtol=0,
                               atol=1e-5)

