"""K-class metrics against a 7-case, 3-class example worked out by hand, and the binary special case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.evaluation.multiclass import confusion_table, multiclass_metrics, per_class_metrics

# Columns A, B, C. Predicted (argmax): A, A, B | B, C | C, B.
Y3 = ["A", "A", "A", "B", "B", "C", "C"]
P3 = np.array([[0.7, 0.2, 0.1],
               [0.6, 0.3, 0.1],
               [0.3, 0.5, 0.2],
               [0.2, 0.6, 0.2],
               [0.1, 0.3, 0.6],
               [0.1, 0.2, 0.7],
               [0.2, 0.5, 0.3]])
# Fractions of small integers: exact up to float rounding, so 1e-12.
TOL = 1e-12


def test_three_class_summary_by_hand():
    m = multiclass_metrics(Y3, P3, classes=["A", "B", "C"])
    # Correct: cases 1, 2, 4, 6 -> 4/7. Recalls A 2/3, B 1/2, C 1/2 -> balanced (2/3 + 1/2 + 1/2) / 3 = 5/9.
    assert m["accuracy"] == pytest.approx(4 / 7, abs=TOL)
    assert m["balanced_accuracy"] == pytest.approx(5 / 9, abs=TOL)
    # One-vs-rest AUCs by counting pairs (ties 1/2):
    #   A: positives .7 .6 .3 beat every negative (.2 .1 .1 .2)                       -> 12/12 = 1
    #   B: positives .6 .3 vs negatives .2 .3 .5 .2 .5: .6 wins 5; .3 wins 2 + tie 1/2 -> 7.5/10 = 0.75
    #   C: positives .7 .3 vs negatives .1 .1 .2 .2 .6: .7 wins 5; .3 wins 4          -> 9/10 = 0.9
    # macro = (1 + 0.75 + 0.9) / 3 = 0.88333...
    assert m["auc_ovr_macro"] == pytest.approx((1 + 0.75 + 0.9) / 3, abs=TOL)


def test_three_class_confusion_and_per_class_by_hand():
    table = confusion_table(Y3, ["A", "A", "B", "B", "C", "C", "B"], ["A", "B", "C"])
    expected = pd.DataFrame([[2, 1, 0], [0, 1, 1], [0, 1, 1]],
                            index=pd.Index(["true A", "true B", "true C"], name="true"),
                            columns=pd.Index(["predicted A", "predicted B", "predicted C"], name="predicted"))
    pd.testing.assert_frame_equal(table, expected)

    per = per_class_metrics(Y3, P3, classes=["A", "B", "C"])
    # A: TP 2, FN 1, FP 0, TN 4 -> sens 2/3, spec 4/4, PPV 2/2, NPV 4/5
    # B: TP 1, FN 1, FP 2 (cases 3, 7), TN 3 -> sens 1/2, spec 3/5, PPV 1/3, NPV 3/4
    # C: TP 1, FN 1 (case 7), FP 1 (case 5), TN 4 -> sens 1/2, spec 4/5, PPV 1/2, NPV 4/5
    assert per[["support", "tp", "fn", "fp", "tn"]].to_numpy().tolist() == [[3, 2, 1, 0, 4], [2, 1, 1, 2, 3],
                                                                            [2, 1, 1, 1, 4]]
    np.testing.assert_allclose(per["sensitivity"], [2 / 3, 1 / 2, 1 / 2], atol=TOL)
    np.testing.assert_allclose(per["specificity"], [1, 3 / 5, 4 / 5], atol=TOL)
    np.testing.assert_allclose(per["ppv"], [1, 1 / 3, 1 / 2], atol=TOL)
    np.testing.assert_allclose(per["npv"], [4 / 5, 3 / 4, 4 / 5], atol=TOL)
    assert list(per.index) == ["A", "B", "C"]


def test_binary_is_the_two_class_case_with_a_positive_class():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.5, 0.8])  # P(1); at threshold 0.5 the case at exactly 0.5 is positive
    m = multiclass_metrics(y, p)
    # Predicted 0, 1, 1, 1. AUC: positives .5 .8 vs negatives .1 .6 -> 3 of 4 pairs = 0.75.
    assert m == pytest.approx({"auc_ovr_macro": 0.75, "accuracy": 0.75, "balanced_accuracy": 0.75}, abs=TOL)
    per = per_class_metrics(y, p).loc[1]
    # TP 2, FN 0, FP 1, TN 1 -> sens 1, spec 1/2, PPV 2/3, NPV 1
    assert [per.sensitivity, per.specificity, per.ppv, per.npv] == pytest.approx([1, 0.5, 2 / 3, 1], abs=TOL)
    # The same problem as a two-column matrix with named classes and a positive class gives the same numbers.
    labels = np.where(y == 1, "methylated", "unmethylated")
    two = np.column_stack([1 - p, p])
    m2 = multiclass_metrics(labels, two, classes=["unmethylated", "methylated"], positive="methylated")
    assert m2 == pytest.approx(m, abs=TOL)


def test_undefined_values_are_nan_and_bad_input_is_refused():
    # Class C never predicted -> its PPV is 0/0 = NaN; no class-C case -> the OvR AUC is undefined.
    per = per_class_metrics(["A", "B"], [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]], classes=["A", "B", "C"])
    assert np.isnan(per.loc["C", "ppv"]) and np.isnan(per.loc["C", "sensitivity"])
    assert np.isnan(multiclass_metrics(["A", "B"], [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]],
                                       classes=["A", "B", "C"])["auc_ovr_macro"])
    with pytest.raises(ValueError, match="not among the classes"):
        multiclass_metrics(["A", "D"], [[0.9, 0.1], [0.2, 0.8]], classes=["A", "B"])
    with pytest.raises(ValueError, match="one column per class"):
        multiclass_metrics(Y3, P3[:, :2], classes=["A", "B", "C"])
    with pytest.raises(ValueError, match="finite"):
        multiclass_metrics([0, 1], [np.nan, 0.5])
