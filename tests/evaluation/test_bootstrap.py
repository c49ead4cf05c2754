"""Bootstrap intervals: equal to scipy's on a fixed example, coverage in a simulation, skipping,
stratification, the subsampling (fraction) mode and the predictions-table helper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from mgmtfeat.evaluation.bootstrap import _binary_rows, _multiclass_rows, bootstrap_ci, bootstrap_table


def _example(n0=25, n1=20, seed=1):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    return y, rng.normal(size=n0 + n1) + y


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_interval_equals_scipy_bootstrap(method):
    # Unstratified draws make the same generator call as scipy.stats.bootstrap, so with the same seed
    # and the same AUC values the bootstrap distribution, the jackknife and the interval are the same
    # computation: 1e-12. The reference AUC is scipy's Mann-Whitney U / (m n), exact like ours (a
    # trapezoid AUC may differ in the last bit and flip a tie in BCa's bias count).
    y, s = _example()
    ours = bootstrap_ci(y, s, "auc", method=method, n_resamples=500, random_state=7)

    def auc_u(a, b):
        return stats.mannwhitneyu(b[a == 1], b[a == 0]).statistic / ((a == 1).sum() * (a == 0).sum())

    ref = stats.bootstrap((y, s), auc_u, paired=True, vectorized=False, n_resamples=500, method=method,
                          rng=np.random.default_rng(7)).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert ours.estimate == roc_auc_score(y, s)  # the estimate is roc_auc_score itself: exact
    assert (ours.method, ours.n_resamples, ours.n_skipped, ours.confidence) == (method, 500, 0, 0.95)
    assert ours.low < ours.estimate < ours.high


def test_named_metrics_equal_sklearn_on_resamples():
    # The per-resample formulas are vectorised; sklearn is the reference on 30 resamples of tied scores
    # (coarse grid) that include undefined values (NaN, sklearn's zero_division=nan). Same rationals by
    # two routes: 1e-12.
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score, precision_score,
                                 recall_score)

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 16)
    s = np.round(rng.random(16), 1)
    rows = rng.integers(0, 16, (30, 16))
    refs = {"auc": lambda a, b: roc_auc_score(a, b) if 0 < a.sum() < len(a) else np.nan,
            "accuracy": lambda a, b: accuracy_score(a, b >= 0.5),
            "precision": lambda a, b: precision_score(a, b >= 0.5, zero_division=np.nan),
            "recall": lambda a, b: recall_score(a, b >= 0.5, zero_division=np.nan),
            "f1": lambda a, b: f1_score(a, b >= 0.5, zero_division=np.nan)}
    for name, ref in refs.items():
        expected = [ref(y[r], s[r]) for r in rows]
        np.testing.assert_allclose(_binary_rows(name, y[rows], s[rows], 0.5), expected, rtol=0, atol=1e-12,
                                   equal_nan=True, err_msg=name)

    labels = rng.integers(0, 3, 40)
    p = rng.dirichlet(np.ones(3), size=40)
    rows = np.stack([rng.permutation(40)[:30] for _ in range(10)])  # 30 of 40 cases: every class present
    refs = {"auc": lambda a, b: roc_auc_score(a, b / b.sum(axis=1, keepdims=True), multi_class="ovr",
                                              labels=[0, 1, 2]),
            "accuracy": lambda a, b: accuracy_score(a, b.argmax(axis=1)),
            "balanced_accuracy": lambda a, b: balanced_accuracy_score(a, b.argmax(axis=1))}
    for name, ref in refs.items():
        expected = [ref(labels[r], p[r]) for r in rows]
        np.testing.assert_allclose(_multiclass_rows(name, labels[rows], p[rows]), expected, rtol=0, atol=1e-12,
                                   err_msg=name)


def _fast_auc(y, s):
    # Mann-Whitney count on continuous scores (no ties), as a callable metric: exercises that path.
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return np.nan
    return float((pos[:, None] > neg[None, :]).mean())


def test_percentile_interval_covers_the_true_auc():
    # Binormal data: positives N(1, 1), negatives N(0, 1), so the true AUC is Phi(1 / sqrt(2)) = 0.7602.
    # 200 datasets of 30 + 30 cases, 200 resamples each (enough for a 95 % percentile interval to be
    # stable to about +-0.01 at its ends; 1,000 would only slow the test). With 200 datasets the
    # observed coverage of a 95 % interval has a binomial SD of 1.5 %; the percentile interval of the
    # AUC is known to under-cover slightly at this size, so 90-99 % is the accepted band.
    truth = stats.norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(2024)
    covered = 0
    for k in range(200):
        y = np.r_[np.zeros(30, int), np.ones(30, int)]
        s = rng.normal(size=60) + y
        ci = bootstrap_ci(y, s, _fast_auc, n_resamples=200, random_state=k)
        covered += ci.low <= truth <= ci.high
    assert 0.90 <= covered / 200 <= 0.99


def test_single_class_resamples_are_skipped_and_counted():
    # 2 positives among 14 cases: a resample misses both with probability (12/14)^14 = 0.116, so about
    # 116 of 1,000 resamples have one class (binomial SD 10; the band is +-5 SD).
    y = np.r_[np.zeros(12, int), np.ones(2, int)]
    s = np.linspace(0, 1, 14)[::-1]
    ci = bootstrap_ci(y, s, "auc", n_resamples=1000)
    assert 66 <= ci.n_skipped <= 166
    assert ci.n_resamples == 1000 and np.isfinite([ci.low, ci.high]).all()
    # Stratified resampling keeps both classes in every resample: nothing to skip.
    strat = bootstrap_ci(y, s, "auc", n_resamples=1000, stratify=True)
    assert strat.n_skipped == 0


def test_stratified_resamples_keep_the_class_counts():
    y, s = _example(n0=9, n1=6)
    seen = []

    def count_positives(yy, ss):
        seen.append((int(yy.sum()), len(yy)))
        return float(ss.mean())

    bootstrap_ci(y, s, count_positives, n_resamples=50, stratify=True, method="bca")
    assert set(seen[1:51]) == {(6, 15)}  # [0] is the estimate; then the resamples; then the jackknife


def test_fraction_mode_subsamples_without_replacement():
    # 100 cases, 70 classified correctly; each resample is 90 distinct cases, so its accuracy is
    # Hypergeometric(100 cases, 70 correct, 90 drawn) / 90 and the 95 % subsample interval should sit on
    # that distribution's 2.5 % and 97.5 % quantiles (62/90 and 67/90; within one atom, 1/90, since the
    # empirical quantile of a discrete distribution may fall on a neighbour).
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    s = np.r_[np.ones(35), np.zeros(15), np.ones(15), np.zeros(35)]  # 35 + 35 correct at threshold 0.5
    ci = bootstrap_ci(y, s, "accuracy", fraction=0.9, n_resamples=1000)
    hyper = stats.hypergeom(100, 70, 90)
    assert ci.low == pytest.approx(hyper.ppf(0.025) / 90, abs=1 / 90 + 1e-12)
    assert ci.high == pytest.approx(hyper.ppf(0.975) / 90, abs=1 / 90 + 1e-12)
    assert ci.method == "subsample"
    # The subsample interval is about sqrt((1 - f) / f) = 1/3 as wide as the bootstrap one: not a CI.
    full = bootstrap_ci(y, s, "accuracy", n_resamples=1000)
    assert (ci.high - ci.low) < 0.5 * (full.high - full.low)

    def distinct(yy, ss):
        return float(len(np.unique(ss)) == 90 == len(ss))

    ids = np.arange(100.0)
    assert bootstrap_ci(y, ids, distinct, fraction=0.9, n_resamples=20).estimate == 0.0  # all 100 cases
    sub = bootstrap_ci(y, ids, distinct, fraction=0.9, n_resamples=20)
    assert (sub.low, sub.high) == (1.0, 1.0)  # every subsample: 90 cases, all distinct


def test_table_from_predictions():
    y, s = _example()
    frame = pd.DataFrame({"case_id": [f"c{i}" for i in range(len(y))], "label": y, "probability": 1 / (1 + np.exp(-s))})
    table = bootstrap_table(frame, n_resamples=200)
    assert list(table["metric"]) == ["auc", "accuracy", "precision", "recall", "f1"]
    assert (table["low"] <= table["estimate"]).all() and (table["estimate"] <= table["high"]).all()
    # a float64 ratio of pair counts (exact sums of 0, 0.5 and 1) by two routes: a few ulp at most (1e-15)
    assert table.loc[0, "estimate"] == pytest.approx(roc_auc_score(y, s), abs=1e-15)

    # Repeats: refused without a choice; one repeat equals the single-repeat table.
    twice = pd.concat([frame.assign(repeat=0), frame.assign(repeat=1, probability=0.5)], ignore_index=True)
    with pytest.raises(ValueError, match="repeat="):
        bootstrap_table(twice)
    pd.testing.assert_frame_equal(bootstrap_table(twice, repeat=0, n_resamples=200), table)
    mean = bootstrap_table(twice, ["auc"], repeat="mean", n_resamples=200)
    assert mean.loc[0, "estimate"] == pytest.approx(roc_auc_score(y, s), abs=1e-15)  # ranks unchanged; as above

    # Three classes as prob_<class> columns: multi-class metrics.
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=60)
    labels = rng.integers(0, 3, 60)
    multi = pd.DataFrame({"label": labels, **{f"prob_{k}": p[:, k] for k in range(3)}})
    t3 = bootstrap_table(multi, n_resamples=100, stratify=True)
    assert list(t3["metric"]) == ["auc", "accuracy", "balanced_accuracy"]
    # the mean of three float64 pair-count ratios by two routes: a few ulp (1e-15)
    assert t3.loc[0, "estimate"] == pytest.approx(roc_auc_score(labels, p, multi_class="ovr"), abs=1e-15)


def test_bad_input_is_refused():
    y, s = _example()
    with pytest.raises(ValueError, match="fraction"):
        bootstrap_ci(y, s, fraction=1.5)
    with pytest.raises(ValueError, match="BCa"):
        bootstrap_ci(y, s, fraction=0.9, method="bca")
    with pytest.raises(ValueError, match="labels 0/1"):
        bootstrap_ci(y + 1, s)
    with pytest.raises(ValueError, match="undefined on all"):
        bootstrap_ci(np.zeros(10, int), np.arange(10.0))
    with pytest.raises(ValueError, match="not a binary metric"):
        bootstrap_ci(y, s, "sensitivity")
