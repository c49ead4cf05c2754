import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mgmtfeat.evaluation import (EvaluationError, check_labels, concordance_correlation, cross_validate, load_folds,
                                 make_folds, net_benefit, sem, summarise)
from mgmtfeat.models.classical import make_logistic


def test_folds_are_stratified_complete_and_reproducible():
    ids = [f"c{i}" for i in range(50)]
    y = np.array([0] * 20 + [1] * 30)
    folds = make_folds(ids, y, n_splits=5, n_repeats=3, seed=7)
    assert len(folds) == 150 and set(folds["repeat"]) == {0, 1, 2}
    for _, part in folds.groupby("repeat"):
        assert sorted(part["case_id"]) == sorted(ids)
        counts = part.groupby("fold")["label"].agg(["sum", "size"])
        assert counts["size"].tolist() == [10] * 5 and counts["sum"].tolist() == [6] * 5
    pd.testing.assert_frame_equal(folds, make_folds(ids, y, 5, 3, seed=7))
    assert not folds[folds.repeat == 0]["fold"].equals(folds[folds.repeat == 1]["fold"].reset_index(drop=True))


def test_saved_folds_must_match_the_cohort(tmp_path):
    ids = [f"c{i}" for i in range(20)]
    folds = make_folds(ids, np.arange(20) % 2, 4, 2)
    folds.to_csv(tmp_path / "f.csv", index=False)
    assert load_folds(tmp_path / "f.csv", ids).equals(folds)
    with pytest.raises(EvaluationError, match="cohort changed"):
        load_folds(tmp_path / "f.csv", ids[:-1])


@pytest.mark.parametrize(
    "y, message",
    [
        ([0, 1, 0.5, 1, 0, 1], r"labels must be class codes 0, 1, \.\.\. \(0/1 for a binary task\); found c2=0\.5"),
        ([0, 1, -1, 1, 0, 1], "found c2=-1"),
        ([0, 1, 3, 1, 0, 1], "class code 2 has no case"),
        ([0, 1, 2, 1, 0, 1], "class 2 has 1 cases, fewer than the 2 folds"),
        ([1, 1, 1, 1, 1, 1], "all 6 cases have label 1"),
        ([0, 1, 1, 1, 1, 1], "class 0 has 1 cases, fewer than the 2 folds"),
    ],
)
def test_bad_labels(y, message):
    with pytest.raises(EvaluationError, match=message):
        check_labels(np.array(y), [f"c{i}" for i in range(6)], n_splits=2)


def test_duplicate_ids():
    with pytest.raises(EvaluationError, match="duplicate case ids"):
        check_labels(np.array([0, 1, 0, 1]), ["a", "b", "a", "c"], 2)


class RecordingScaler(BaseEstimator, TransformerMixin):
    """Standard scaler that records the rows it was fitted on (by their first column, a row id)."""

    fitted_rows: list = []

    def fit(self, X, y=None):
        RecordingScaler.fitted_rows.append(set(X[:, 0].astype(int)))
        self.mean_ = X.mean(0)
        return self

    def transform(self, X):
        return X - self.mean_


def test_scaler_is_fitted_on_training_rows_only():
    rng = np.random.default_rng(0)
    n = 40
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 5))])
    y = np.arange(n) % 2
    ids = [f"c{i}" for i in range(n)]
    folds = make_folds(ids, y, 4, 2)
    RecordingScaler.fitted_rows = []
    cross_validate(lambda rs: make_pipeline(RecordingScaler(), LogisticRegression()), X, y, ids, folds)
    assert len(RecordingScaler.fitted_rows) == 8
    expected = []
    for repeat in range(2):
        part = folds[folds.repeat == repeat]
        for fold in range(4):
            test = {int(c[1:]) for c in part[part.fold == fold]["case_id"]}
            expected.append(set(range(n)) - test)
    assert RecordingScaler.fitted_rows == expected


def test_nan_features_are_refused():
    X = np.zeros((10, 3))
    X[4, 1] = np.nan
    ids = [f"c{i}" for i in range(10)]
    y = np.arange(10) % 2
    with pytest.raises(EvaluationError, match="case c4: NaN"):
        cross_validate(make_logistic, X, y, ids, make_folds(ids, y, 2, 1))


@pytest.mark.slow
def test_random_labels_give_chance_auc_on_real_features(published):
    rng = np.random.default_rng(123)
    y = rng.permutation(published.y)
    folds = make_folds(published.case_ids, y, 5, 4, seed=0)
    result = cross_validate(make_logistic, published.X2d, y, published.case_ids, folds)
    assert len(result.metrics) == 20
    assert abs(result.metrics["auc"].mean() - 0.5) < 0.05


def test_real_labels_beat_chance(published):
    folds = make_folds(published.case_ids, published.y, 5, 1, seed=0)
    result = cross_validate(make_logistic, published.X2d, published.y, published.case_ids, folds)
    assert result.metrics["auc"].mean() > 0.57
    assert set(result.predictions["case_id"]) == set(published.case_ids)


def test_summary_statistics():
    metrics = pd.DataFrame({m: [0.5, 0.6, 0.7] for m in ("auc", "precision", "recall", "accuracy", "f1", "fit_seconds")})
    summary = summarise(metrics)
    # float64 mean and SD of three decimal fractions (not exact in binary): a few ulp, 1e-12; summarise uses
    # the package's own sem, so that one is equal to the bit
    assert summary["auc"]["mean"] == pytest.approx(0.6, rel=0, abs=1e-12)
    assert summary["auc"]["sd"] == pytest.approx(0.1, rel=0, abs=1e-12)
    assert summary["auc"]["sem"] == pytest.approx(0.1 / np.sqrt(3), rel=0, abs=1e-12) == sem([0.5, 0.6, 0.7])


def test_concordance_correlation():
    a = np.array([-1.5, -0.5, 0.5, 1.5])
    # exact halves: means, variances and covariances are exact in float64, and so are +-1 but for the final
    # division's rounding (1e-12)
    assert concordance_correlation(a, a) == pytest.approx(1.0, rel=0, abs=1e-12)
    assert concordance_correlation(a, a + 10) < 0.1  # perfectly correlated but not concordant
    assert concordance_correlation(a, -a) == pytest.approx(-1.0, rel=0, abs=1e-12)
    both = concordance_correlation(np.stack([a, a]), np.stack([a, -a]), axis=1)
    np.testing.assert_allclose(both, [1.0, -1.0], rtol=0, atol=1e-12)


def test_net_benefit_matches_definition():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1])
    table = net_benefit(y, p, np.array([0.5]))
    # at t=0.5: TP=1, FP=1 -> 1/4 - 1/4 * 1 = 0
    # quarters and a threshold odds of 1: exact in float64 but for rounding (1e-12)
    assert table["model"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert table["treat_all"].iloc[0] == pytest.approx(0.5 - 0.5, abs=1e-12)


def test_saved_folds_splitter_reproduces_the_table_and_serves_grid_search():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    from mgmtfeat.evaluation import SavedFolds

    rng = np.random.default_rng(1)
    ids = [f"c{i}" for i in range(30)]
    y = np.arange(30) % 2
    X = rng.normal(size=(30, 4)) + y[:, None]
    folds = make_folds(ids, y, 3, 2, seed=5)
    order = rng.permutation(30)  # the splitter follows case_ids, whatever the table's row order
    shuffled_ids = [ids[i] for i in order]
    splitter = SavedFolds(folds.sample(frac=1, random_state=0), shuffled_ids, repeat=1)
    assert splitter.get_n_splits() == 3
    part = folds[folds.repeat == 1].set_index("case_id")["fold"]
    for fold, (train, test) in enumerate(splitter.split(X)):
        assert sorted(shuffled_ids[i] for i in test) == sorted(part.index[part == fold])
        assert set(train).isdisjoint(test) and len(train) + len(test) == 30
    explicit = [(tr, te) for tr, te in splitter.split()]
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=splitter).fit(X[order], y[order])
    again = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=explicit).fit(X[order], y[order])
    # the same fits on the same rows: exact, no tolerance
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], again.cv_results_["mean_test_score"])
    assert len(cross_val_score(LogisticRegression(), X[order], y[order], cv=splitter)) == 3
    with pytest.raises(EvaluationError, match="no repeat 7"):
        SavedFolds(folds, ids, repeat=7)
    with pytest.raises(EvaluationError, match="cohort changed"):
        SavedFolds(folds, ids[:-1])
    with pytest.raises(EvaluationError, match="given X with 29 rows"):
        next(SavedFolds(folds, ids).split(X[:-1]))


def test_cross_validate_takes_an_executor_and_gives_the_same_metrics():
    from mgmtfeat._parallel import InProcess, ProcessPool

    rng = np.random.default_rng(2)
    ids = [f"c{i}" for i in range(24)]
    y = np.arange(24) % 2
    X = rng.normal(size=(24, 6)) + 0.8 * y[:, None]
    folds = make_folds(ids, y, 3, 2)
    seen = []
    with InProcess() as here, ProcessPool(2) as pool:
        a = cross_validate(make_logistic, X, y, ids, folds, executor=here, progress=lambda: seen.append(1))
        b = cross_validate(make_logistic, X, y, ids, folds, executor=pool)
    assert len(seen) == 6
    pd.testing.assert_frame_equal(a.metrics.drop(columns="fit_seconds"), b.metrics.drop(columns="fit_seconds"))
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
