"""DeLong's test against R pROC's published example, the corrected resampled t-test by hand, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.evaluation.compare import (brier_score, calibration_table, compare_cv_models, corrected_cv_interval,
                                         corrected_resampled_ttest, cv_interval, delong_covariance, delong_test)

# pROC's aSAH data (Turck et al., Intensive Care Med 2010; 113 patients, shipped with R's pROC):
# outcome (Poor = 1, Good = 0), s100b and the WFNS grade (an ordinal score with many ties).
ASAH_POOR = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
ASAH_WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
]  # fmt: skip


def test_delong_reproduces_proc_roc_test_on_asah():
    # pROC documentation, ?roc.test: roc.test(roc(aSAH$outcome, aSAH$s100b), roc(aSAH$outcome, aSAH$wfns))
    # prints AUCs 0.7314 and 0.8237, Z = -2.209, p-value = 0.02718 (DeLong, paired). Those are rounded
    # to 4 significant digits, so each is compared to within half a unit of its last printed digit.
    y = np.array(ASAH_POOR)
    assert (len(y), int(y.sum())) == (113, 41)
    r = delong_test(y, ASAH_S100B, ASAH_WFNS)
    assert r.auc_a == pytest.approx(0.7314, abs=5e-5)
    assert r.auc_b == pytest.approx(0.8237, abs=5e-5)
    assert r.z == pytest.approx(-2.209, abs=5e-4)
    assert r.p_value == pytest.approx(0.02718, abs=5e-6)
    # the same float64 subtraction and square root as the code's: equal but for the last bit (1e-15)
    assert r.difference == pytest.approx(r.auc_a - r.auc_b, abs=1e-15)
    assert r.se == pytest.approx(np.sqrt(r.variance), rel=1e-15)


def _slow_delong(y, scores):
    """DeLong's structural components straight from the definition, O(m n): psi(x, y) = 1, 1/2, 0."""
    y = np.asarray(y, bool)
    v10, v01, aucs = [], [], []
    for s in np.atleast_2d(scores):
        x, z = s[y], s[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    m, n = y.sum(), (~y).sum()
    return np.array(aucs), np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n


def test_fast_delong_equals_the_definition_with_ties():
    # Scores on a coarse grid, so ties within and across classes are frequent. Midranks and the
    # pairwise kernel are two exact routes to the same rationals: equal up to float rounding (1e-12).
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 57)
    scores = np.round(rng.normal(size=(3, 57)) + y, 1)
    aucs, cov = delong_covariance(y, scores)
    ref_aucs, ref_cov = _slow_delong(y, scores)
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=0, atol=1e-12)


def test_delong_same_scores_give_p_one_and_bad_labels_are_refused():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    r = delong_test(y, s, s.copy())
    assert (r.difference, r.z, r.p_value) == (0.0, 0.0, 1.0)  # identical scores: exact zeros by definition
    with pytest.raises(ValueError, match="both classes"):
        delong_test(np.ones(6, int), s, s)
    with pytest.raises(ValueError, match="0/1"):
        delong_test(np.array([0, 1, 2, 0, 1, 1]), s, s)
    with pytest.raises(ValueError, match="one finite score per case"):
        delong_test(y, s[:5], s)


def test_corrected_resampled_ttest_by_hand():
    # J = 4 folds, d = (0.02, 0.04, 0.01, 0.05): mean 0.03, s^2 = ((-.01)^2 + .01^2 + (-.02)^2 + .02^2) / 3
    # = 0.001 / 3. With n_train = 80, n_test = 20: corrected variance (1/4 + 20/80) * s^2 = 0.5 * 0.001 / 3
    # = 1/6000, t = 0.03 * sqrt(6000) = 2.32379, df = 3. Student's t with 3 df has a closed-form CDF,
    # F(t) = 1/2 + (x / (1 + x^2) + atan(x)) / pi with x = t / sqrt(3) = sqrt(1.8), so the two-sided
    # P = 1 - 2 (sqrt(1.8) / 2.8 + atan(sqrt(1.8))) / pi = 0.10273 (t table: t_{3, 0.95} = 2.353, so P is
    # just above 0.10). Exact arithmetic on a few numbers: compared to 1e-12.
    a = np.array([0.82, 0.84, 0.81, 0.85])
    b = np.array([0.80, 0.80, 0.80, 0.80])
    r = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert r.mean_difference == pytest.approx(0.03, abs=1e-12)
    assert r.variance == pytest.approx(1 / 6000, abs=1e-12)
    assert r.t == pytest.approx(0.03 * np.sqrt(6000), abs=1e-9)  # t ~ 2.3 from a variance of 1.7e-4: 1e-9
    assert (r.df, r.n_folds) == (3, 4)
    x = np.sqrt(1.8)
    assert r.p_value == pytest.approx(1 - 2 * (x / 2.8 + np.arctan(x)) / np.pi, abs=1e-12)
    # The uncorrected paired t-test (variance s^2 / J) would give t = 0.03 / sqrt(0.001 / 12) = 3.286:
    # the correction must make the test more conservative.
    assert abs(r.t) < 0.03 / np.sqrt(0.001 / 12)


def test_compare_cv_models_pairs_folds_by_repeat_and_fold():
    rows = [(rep, fold) for rep in range(2) for fold in range(2)]
    a = pd.DataFrame([{"repeat": r, "fold": f, "auc": v, "n_train": 80, "n_test": 20}
                      for (r, f), v in zip(rows, [0.82, 0.84, 0.81, 0.85])])
    b = pd.DataFrame([{"repeat": r, "fold": f, "auc": 0.80, "n_train": 80, "n_test": 20} for r, f in rows])
    shuffled = a.sample(frac=1.0, random_state=0)  # row order must not matter, only (repeat, fold)
    assert compare_cv_models(shuffled, b) == corrected_resampled_ttest(a["auc"], b["auc"], 80, 20)
    with pytest.raises(ValueError, match="same saved folds"):
        compare_cv_models(a, b.iloc[:3])
    with pytest.raises(ValueError, match="lacks columns"):
        compare_cv_models(a.drop(columns="auc"), b)


def test_corrected_cv_interval_by_hand():
    # The folds of the t-test above: mean 0.83, s^2 = 0.001 / 3, corrected variance (1/4 + 20/80) s^2 = 1/6000.
    # t_{3, 0.975} = 3.182446 (t table), so the 95 % interval is 0.83 +- 3.182446 / sqrt(6000) = 0.83 +- 0.041086.
    a = np.array([0.82, 0.84, 0.81, 0.85])
    ci = corrected_cv_interval(a, n_train=80, n_test=20)
    assert ci.mean == pytest.approx(0.83, abs=1e-12) and ci.se == pytest.approx(np.sqrt(1 / 6000), abs=1e-12)
    assert (ci.df, ci.n_folds, ci.confidence) == (3, 4, 0.95)
    # the t quantile is printed to 7 digits (3.182446): the bounds agree within its rounding / sqrt(6000), 1e-6
    assert ci.low == pytest.approx(0.83 - 3.182446 / np.sqrt(6000), abs=1e-6)
    assert ci.high == pytest.approx(0.83 + 3.182446 / np.sqrt(6000), abs=1e-6)
    # wider than the uncorrected interval (SEM s / sqrt(J)), and it inverts the corrected t-test:
    # the test of a against a constant at the interval's bound has P = 0.05
    assert ci.high - ci.mean > 3.182446 * np.sqrt(0.001 / 3 / 4)
    at_bound = corrected_resampled_ttest(a, np.full(4, ci.low), n_train=80, n_test=20)
    assert at_bound.p_value == pytest.approx(0.05, abs=1e-9)  # t quantile and CDF inverted in float64: 1e-9
    table = pd.DataFrame({"repeat": [0, 0, 1, 1], "fold": [0, 1, 0, 1], "auc": a, "n_train": 80, "n_test": 20})
    assert cv_interval(table) == ci
    with pytest.raises(ValueError, match="lacks columns"):
        cv_interval(table.drop(columns="n_test"))
    with pytest.raises(ValueError, match="at least 2"):
        corrected_cv_interval([0.8], 80, 20)
    with pytest.raises(ValueError, match="confidence"):
        corrected_cv_interval(a, 80, 20, confidence=95)


def test_brier_score_and_calibration_table_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.3, 0.6, 0.9])
    # ((0.1)^2 + (0.3)^2 + (0.4)^2 + (0.1)^2) / 4 = (0.01 + 0.09 + 0.16 + 0.01) / 4 = 0.0675
    # four float64 squares and a mean of decimal fractions (not exact in binary): a few ulp, 1e-15
    assert brier_score(y, p) == pytest.approx(0.0675, abs=1e-15)
    table = calibration_table(y, p, n_bins=2)
    # bins [0, 0.5) and [0.5, 1]: mean p 0.2 and 0.75; fraction positive 0 and 1 (float64 means: 1e-15)
    np.testing.assert_allclose(table["mean_predicted"], [0.2, 0.75], rtol=0, atol=1e-15)
    np.testing.assert_allclose(table["fraction_positive"], [0.0, 1.0], rtol=0, atol=1e-15)
    assert brier_score(np.zeros(3, int), np.zeros(3)) == 0.0  # one class is fine for the Brier score
