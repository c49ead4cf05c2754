"""Bootstrap confidence intervals of a metric on out-of-fold or test predictions.

Cases are resampled, never folds: each resample draws case indices (with replacement, or within
each class with ``stratify=True``), the metric is computed on the drawn cases, and the interval
comes from :func:`scipy.stats.bootstrap` (``percentile`` or ``BCa``) fed with that distribution.
We draw the indices ourselves, rather than letting scipy draw them, for three reasons scipy does
not cover: a resample on which the metric is undefined (e.g. AUC of a resample with one class) is
skipped and counted instead of turning the interval into NaN; stratified resampling; and the
``fraction`` subsampling below. Unstratified draws use the same generator call as scipy, so with
the same seed and metric the intervals equal scipy's own (tested). The named metrics are computed
for all resamples at once (see :func:`_binary_rows`); a callable metric is called per resample.

``fraction=f`` (e.g. 0.9) reproduces the "1,000 bootstrap resamples of 90 % of the cases" reported
by Shin et al. (AJNR 2021) as we read it: each resample is ``round(f * n)`` distinct cases drawn
**without** replacement, and the interval is the percentile interval of the metric over those
subsamples. Such intervals are not classical bootstrap intervals: a subsample shares most cases
with the full data, so its spread is smaller than the sampling spread of the metric (for a mean,
by a factor of about sqrt((1 - f) / f), 1/3 at f = 0.9). Use it only to reproduce published numbers.

>>> from mgmtfeat.evaluation.bootstrap import bootstrap_ci, bootstrap_table
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["BootstrapCI", "BINARY_METRICS", "MULTICLASS_METRICS", "bootstrap_ci", "bootstrap_table"]

BINARY_METRICS = ("auc", "accuracy", "precision", "recall", "f1")
MULTICLASS_METRICS = ("auc", "accuracy", "balanced_accuracy")


@dataclass(frozen=True)
class BootstrapCI:
    """A metric's point estimate and confidence interval.

    Attributes
    ----------
    metric : str
    estimate : float
        The metric on all cases.
    low, high : float
        Interval bounds.
    method : str
        ``percentile``, ``bca`` or ``subsample`` (``fraction`` mode; percentile of subsamples).
    confidence : float
        E.g. 0.95.
    n_resamples : int
        Resamples drawn, skipped ones included.
    n_skipped : int
        Resamples on which the metric was undefined (NaN), left out of the interval.
    """

    metric: str
    estimate: float
    low: float
    high: float
    method: str
    confidence: float
    n_resamples: int
    n_skipped: int


def _auc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AUC of each row (Mann-Whitney with midranks, ties count 1/2); NaN where a row has one class."""
    from scipy.stats import rankdata

    n1 = y.sum(axis=1)
    n0 = y.shape[1] - n1
    ranks = rankdata(s, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)  # 0/0 is undefined (NaN), not 0


def _binary_rows(name: str, y: np.ndarray, s: np.ndarray, threshold: float) -> np.ndarray:
    """A binary metric of each row of (y, s), shape (B, m) -> (B,).

    Written out rather than calling sklearn per resample: sklearn's input validation costs about a
    millisecond per call, i.e. seconds per interval. The formulas are sklearn's (``roc_auc_score``;
    precision/recall/F1 with ``zero_division=nan``), which the tests check on random resamples.
    """
    if name == "auc":
        return _auc_rows(y, s)
    if name not in BINARY_METRICS:
        raise ValueError(f"metric={name!r} is not a binary metric; use one of {BINARY_METRICS} or pass a callable "
                         "metric(y_true, y_score) -> float.")
    pred, truth = s >= threshold, y.astype(bool)
    tp, fp = (pred & truth).sum(axis=1), (pred & ~truth).sum(axis=1)
    fn, tn = (~pred & truth).sum(axis=1), (~pred & ~truth).sum(axis=1)
    return {"accuracy": lambda: (tp + tn) / y.shape[1], "precision": lambda: _ratio(tp, tp + fp),
            "recall": lambda: _ratio(tp, tp + fn), "f1": lambda: _ratio(2 * tp, 2 * tp + fp + fn)}[name]()


def _multiclass_rows(name: str, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """A K-class metric of each row; ``y`` holds column indices 0..K-1, ``s`` has shape (B, m, K)."""
    k = s.shape[2]
    if name == "auc":  # one-vs-rest macro: NaN when a class is absent, as its own AUC is undefined
        return np.mean([_auc_rows((y == c).astype(np.int64), s[:, :, c]) for c in range(k)], axis=0)
    if name not in MULTICLASS_METRICS:
        raise ValueError(f"metric={name!r} is not a multi-class metric; use one of {MULTICLASS_METRICS} or pass a "
                         "callable metric(y_true, y_score) -> float.")
    correct = np.argmax(s, axis=2) == y
    if name == "accuracy":
        return correct.mean(axis=1)
    # balanced accuracy: mean recall over the classes present in the resample (sklearn's rule)
    recalls = np.stack([_ratio((correct & (y == c)).sum(axis=1), (y == c).sum(axis=1)) for c in range(k)])
    with np.errstate(invalid="ignore"):
        return np.nanmean(recalls, axis=0)


def _draw(y: np.ndarray, n_resamples: int, stratify: bool, fraction: float | None,
          rng: np.random.Generator) -> np.ndarray:
    """Case indices of each resample, shape (n_resamples, m)."""
    n = len(y)
    if not stratify:
        if fraction is None:
            return rng.integers(0, n, (n_resamples, n))  # the call scipy.stats.bootstrap makes
        m = int(round(fraction * n))
        return np.argsort(rng.random((n_resamples, n)), axis=1)[:, :m]  # m distinct cases per row
    parts = []
    for cls in np.unique(y):
        rows = np.flatnonzero(y == cls)
        parts.append(rows[_draw(rows, n_resamples, False, fraction, rng)])
    return np.concatenate(parts, axis=1)


def bootstrap_ci(y_true, y_score, metric: str | Callable = "auc", *, method: str = "percentile",
                 n_resamples: int = 1000, confidence: float = 0.95, stratify: bool = False,
                 fraction: float | None = None, threshold: float = 0.5, classes: Sequence | None = None,
                 random_state: int = 0) -> BootstrapCI:
    """Bootstrap confidence interval of a metric of (labels, scores) by resampling cases.

    Parameters
    ----------
    y_true : array-like, shape (n_cases,)
        Labels: 0/1 for a binary metric, any labels with a 2-D ``y_score``.
    y_score : array-like, shape (n_cases,) or (n_cases, K)
        P(class 1) (binary; 0/1 predictions also work with ``threshold=0.5``) or a probability matrix
        whose columns follow ``classes``.
    metric : str or callable
        Binary: ``auc``, ``accuracy``, ``precision``, ``recall``, ``f1`` (the last four at ``threshold``).
        Probability matrix: ``auc`` (one-vs-rest macro), ``accuracy``, ``balanced_accuracy``.
        A callable ``metric(y_true, y_score) -> float`` returns NaN where it is undefined.
    method : {"percentile", "bca"}
        The interval; BCa (bias-corrected and accelerated) needs the jackknife, so it is refused with
        ``fraction``.
    n_resamples : int
        Resamples to draw (skipped ones included).
    confidence : float
        Two-sided confidence level in (0, 1).
    stratify : bool
        Resample within each class, keeping the class counts of the data.
    fraction : float, optional
        Subsampling mode (see the module notes): ``round(fraction * n)`` distinct cases per resample
        (per class with ``stratify``), percentile interval; not a classical bootstrap interval.
    threshold : float
        Decision threshold of the binary threshold metrics.
    classes : sequence, optional
        Column labels of a 2-D ``y_score``; default the sorted labels.
    random_state : int
        Seed of the resampling (numpy ``default_rng``).

    Returns
    -------
    BootstrapCI
    """
    from scipy import stats

    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    if len(y_true) != len(y_score) or len(y_true) < 3:
        raise ValueError(f"y_true and y_score must hold the same cases, at least 3; got {len(y_true)} and "
                         f"{len(y_score)}. Pass one label and one score per case.")
    if method not in ("percentile", "bca"):
        raise ValueError(f"method={method!r}; use 'percentile' or 'bca'.")
    if fraction is not None and not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction!r} must lie in (0, 1), e.g. 0.9; leave it None for the bootstrap.")
    if fraction is not None and method == "bca":
        raise ValueError("method='bca' with fraction: BCa corrects a bootstrap distribution, not a subsample one; "
                         "use method='percentile' with fraction, or drop fraction.")
    if not 0 < confidence < 1 or int(n_resamples) < 2:
        raise ValueError(f"confidence={confidence!r} must lie in (0, 1) and n_resamples={n_resamples!r} be >= 2.")
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    if callable(metric):
        def rows_fn(rows):
            return np.array([metric(y_true[r], y_score[r]) for r in rows], dtype=float)
    elif y_score.ndim == 2:
        classes = sorted(np.unique(y_true).tolist()) if classes is None else list(classes)
        from mgmtfeat.evaluation.multiclass import check_probabilities
        check_probabilities(y_true, y_score, classes)
        codes = np.array([classes.index(v) for v in y_true.tolist()])  # labels -> column indices
        def rows_fn(rows):
            return _multiclass_rows(metric, codes[rows], y_score[rows])
    else:
        if not np.isin(y_true, (0, 1)).all():
            raise ValueError(f"binary metric {metric!r} needs labels 0/1; got {sorted(np.unique(y_true))[:5]}. "
                             "Encode the positive class as 1, or pass a (n_cases, K) probability matrix.")
        y_true = y_true.astype(np.int64)
        def rows_fn(rows):
            return _binary_rows(metric, y_true[rows], y_score[rows], threshold)

    estimate = float(rows_fn(np.arange(len(y_true))[None])[0])
    if not np.isfinite(estimate):
        raise ValueError(f"{name} is undefined on all {len(y_true)} cases (e.g. AUC with one class); nothing to "
                         "bootstrap.")
    rng = np.random.default_rng(random_state)
    dist = rows_fn(_draw(y_true, int(n_resamples), stratify, fraction, rng))
    kept = dist[np.isfinite(dist)]
    n_skipped = int(len(dist) - len(kept))
    if len(kept) < 2:
        raise ValueError(f"{name} was undefined on {n_skipped} of {len(dist)} resamples; too few cases of a class. "
                         "Use stratify=True or more cases.")
    if len(np.unique(kept)) == 1:  # degenerate distribution (e.g. a perfect AUC): the interval is that point
        return BootstrapCI(name, estimate, float(kept[0]), float(kept[0]), "subsample" if fraction else method,
                           confidence, int(n_resamples), n_skipped)

    # scipy computes the interval from our distribution (n_resamples=0 + bootstrap_result). Its statistic
    # maps case indices to the metric, so the BCa jackknife leaves out one case at a time (one case of
    # one class at a time when stratified, as scipy does for several independent samples).
    def statistic(*idx, axis=-1):
        rows = np.concatenate(idx, axis=-1)
        out = rows_fn(np.atleast_2d(rows))
        return out if rows.ndim > 1 else out[0]

    data = tuple(np.flatnonzero(y_true == c) for c in np.unique(y_true)) if stratify else (np.arange(len(y_true)),)
    res = stats.bootstrap(data, statistic, n_resamples=0, vectorized=True, confidence_level=confidence,
                          method="BCa" if method == "bca" else "percentile",
                          bootstrap_result=SimpleNamespace(bootstrap_distribution=kept))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if method == "bca" and not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"the BCa interval of {name} is undefined here (a jackknife sample lacks a class, or the "
                         "distribution is degenerate); use method='percentile'.")
    return BootstrapCI(name, estimate, low, high, "subsample" if fraction else method, confidence,
                       int(n_resamples), n_skipped)


def bootstrap_table(predictions: pd.DataFrame, metrics: Sequence[str] | None = None, *,
                    repeat: int | str | None = None, positive=None, **options) -> pd.DataFrame:
    """Bootstrap intervals of several metrics of a predictions table.

    Parameters
    ----------
    predictions : pandas.DataFrame
        One row per case (and repeat): ``label`` and either ``probability`` (P(label 1), binary, the
        layout of :class:`mgmtfeat.evaluation.CVResult`) or one ``prob_<class>`` column per class.
        A ``repeat`` column with several values needs ``repeat``.
    metrics : sequence of str, optional
        Default: :data:`BINARY_METRICS` for binary predictions, :data:`MULTICLASS_METRICS` otherwise.
    repeat : int or "mean", optional
        Which CV repeat to use (each case appears once per repeat), or ``"mean"`` to average each
        case's probabilities over repeats (needs ``case_id``).
    positive : optional
        With exactly two ``prob_<class>`` columns: the positive class (default the second sorted).
    **options
        Passed to :func:`bootstrap_ci` (``method``, ``n_resamples``, ``confidence``, ``stratify``,
        ``fraction``, ``threshold``, ``random_state``). Every metric uses the same seed, hence the same
        resamples.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric``, ``estimate``, ``low``, ``high``, ``method``, ``confidence``,
        ``n_resamples``, ``n_skipped``.
    """
    frame = predictions
    if "repeat" in frame and frame["repeat"].nunique() > 1:
        if repeat is None:
            raise ValueError(f"predictions hold {frame['repeat'].nunique()} repeats, so each case appears several "
                             "times; pass repeat=<one of them> or repeat='mean'.")
        if repeat == "mean":
            if "case_id" not in frame:
                raise ValueError("repeat='mean' needs a case_id column to average each case over repeats.")
            frame = frame.drop(columns=[c for c in ("repeat", "fold") if c in frame]).groupby(
                "case_id", sort=True).mean(numeric_only=True)
        else:
            frame = frame[frame["repeat"] == repeat]
            if frame.empty:
                raise ValueError(f"repeat={repeat!r} is not in the predictions; use one of "
                                 f"{sorted(predictions['repeat'].unique())}.")
    if "label" not in frame:
        raise ValueError(f"predictions need a 'label' column; found {list(frame.columns)}.")
    prob_cols = [c for c in frame.columns if str(c).startswith("prob_")]
    y = frame["label"].to_numpy()
    if "probability" in frame:
        score, classes = frame["probability"].to_numpy(float), None
    elif len(prob_cols) >= 2:
        classes = [c[len("prob_"):] for c in prob_cols]
        # labels may be ints while column suffixes are strings: compare as strings
        y = np.asarray([str(v) for v in y], dtype=object)
        score = frame[prob_cols].to_numpy(float)
        if len(classes) == 2:
            pos = classes[1] if positive is None else str(positive)
            if pos not in classes:
                raise ValueError(f"positive={positive!r} has no column prob_{positive}; columns: {prob_cols}.")
            score, y = score[:, classes.index(pos)], (y == pos).astype(np.int64)
            classes = None
    else:
        raise ValueError(f"predictions need a 'probability' column or one 'prob_<class>' column per class; found "
                         f"{list(frame.columns)}.")
    if metrics is None:
        metrics = BINARY_METRICS if score.ndim == 1 else MULTICLASS_METRICS
    rows = [bootstrap_ci(y, score, m, classes=classes, **options).__dict__ for m in metrics]
    return pd.DataFrame(rows, columns=["metric", "estimate", "low", "high", "method", "confidence",
                                       "n_resamples", "n_skipped"])
