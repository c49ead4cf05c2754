"""The extra tables and figures of a cross-validation study: confusion, per-class CIs, calibration,
subgroups, the held-out test cohort with its ensemble-size stability, and the site comparison.

Intervals on out-of-fold predictions are computed **per repeat** (each case appears once in a
repeat, so resampling cases is valid there) and ``summary.md`` shows their mean over repeats: the
mean estimate and the mean bounds, i.e. the typical interval of one repeat. Pooling the repeats
instead would count every case R times and make the intervals too narrow; the per-repeat rows are in
the CSV files.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.intervals import (age_band_labels, mean_over_repeats, per_class_intervals, subgroup_intervals,
                                           task_intervals)
from mgmtfeat.evaluation.statistics import sem
from mgmtfeat.reports import save_figure
from mgmtfeat.reports.study_figures import (plot_calibration, plot_confusion, plot_site_comparison, plot_stability,
                                            plot_subgroups)

__all__ = ["TASK_METRICS", "summarise_task", "oof_reports", "test_reports", "site_comparison", "subgroup_frame"]

log = logging.getLogger(__name__)

#: Per-fold metrics of a K > 2 task (binary tasks keep :data:`mgmtfeat.evaluation.METRICS`).
TASK_METRICS = ("auc", "accuracy", "balanced_accuracy")
_MAX_SUBSETS = 30  # member subsets drawn per ensemble size of the stability curve
_MAX_LEVELS = 12  # a non-age covariate with more distinct values is not a subgroup variable


def summarise_task(metrics: pd.DataFrame, names: Sequence[str]) -> dict:
    """Mean, SEM and SD over folds of each metric in ``names`` and of the fit seconds."""
    out = {}
    for name in (*names, "fit_seconds"):
        values = metrics[name].to_numpy(float)
        out[name] = {"mean": float(np.nanmean(values)), "sem": sem(values[np.isfinite(values)]),
                     "sd": float(np.nanstd(values, ddof=1)) if len(values) > 1 else float("nan")}
    return out


def _proba(frame: pd.DataFrame, classes) -> np.ndarray:
    return frame[[f"prob_{c}" for c in classes]].to_numpy(float)


def _ci_cells(table: pd.DataFrame, keys: Sequence[str]) -> str:
    lines = ["| " + " | ".join([*keys, "estimate (95 % CI)"]) + " |", "|" + "---|" * (len(keys) + 1)]
    for r in table.to_dict("records"):  # not itertuples: "class" is a keyword, renamed there
        lines.append("| " + " | ".join([*(str(r[k]) for k in keys),
                                          f"{r['estimate']:.3f} ({r['low']:.3f}–{r['high']:.3f})"]) + " |")
    return "\n".join(lines) + "\n"


def subgroup_frame(covariates: pd.DataFrame, age_bands: Sequence[float]) -> pd.DataFrame:
    """Covariates as subgroup labels: an ``age`` column banded, other columns with few values kept as they are."""
    out = {}
    for column in covariates.columns:
        values = covariates[column]
        if column.lower() == "age":
            values = out[f"{column} band"] = age_band_labels(values, age_bands)
        elif values.dropna().nunique() <= _MAX_LEVELS:
            out[column] = values
        else:
            log.warning("covariate %r has %d distinct values; not a subgroup variable, left out of subgroups.csv",
                        column, values.dropna().nunique())
            continue
        missing = list(values.index[values.isna()])
        if missing:  # said once here; subgroup_intervals leaves them out of this column's rows only
            log.warning("covariate %r: %d case(s) have no%s value and are left out of its subgroups only: %s%s",
                        column, len(missing), " numeric" if column.lower() == "age" else "",
                        ", ".join(missing[:5]), " ..." if len(missing) > 5 else "")
    return pd.DataFrame(out, index=covariates.index)


def class_labels(classes, options) -> dict[str, str]:
    """Axis labels of the classes: the store's MGMT codes by name (``1`` -> ``methylated (1)``), others as they are."""
    if getattr(options, "labels", None) is None and [str(c) for c in classes] == ["0", "1"]:
        return {"0": "unmethylated (0)", "1": "methylated (1)"}
    return {str(c): str(c) for c in classes}


def oof_reports(tmp: Path, predictions: pd.DataFrame, classes: list, options, seed: int,
                covariates: pd.DataFrame | None = None) -> str:
    """Write the out-of-fold reports of every model; return their Markdown for ``summary.md``.

    Files: ``confusion.csv``/``.png``, ``class_intervals.csv`` (per repeat), ``metric_intervals.csv``
    (per repeat), binary ``calibration.csv``/``.png`` with the Brier score, and with covariates
    ``subgroups.csv``/``.png``.
    """
    from mgmtfeat.evaluation.compare import brier_score, calibration_table
    from mgmtfeat.evaluation.multiclass import confusion_table, predict_classes

    ci = {"random_state": seed, "n_resamples": options.n_resamples}
    names = [str(c) for c in classes]
    confusion, per_class, overall, subgroups, curves, brier = [], {}, {}, [], {}, {}
    for (model, repeat), part in predictions.groupby(["model", "repeat"], sort=False):
        y, proba = part["label"].to_numpy(np.int64), _proba(part, classes)
        pred = predict_classes(proba, list(range(len(classes)))).astype(np.int64)
        table = confusion_table(np.array(names, object)[y], np.array(names, object)[pred], names)
        for t, row in zip(names, table.to_numpy()):
            confusion += [{"model": model, "repeat": repeat, "true": t, "predicted": p, "count": int(n)}
                          for p, n in zip(names, row)]
        per_class[(model, repeat)] = per_class_intervals(y, proba, names, **ci).assign(model=model)
        overall[(model, repeat)] = task_intervals(y, proba, **ci).assign(model=model)
        if covariates is not None:
            subgroups.append(subgroup_intervals(y, proba, part["case_id"].tolist(), covariates, **ci)
                             .assign(model=model, repeat=repeat))
    confusion = pd.DataFrame(confusion)
    confusion.to_csv(tmp / "confusion.csv", index=False)
    save_figure(plot_confusion(confusion, names, display=class_labels(classes, options)), tmp / "confusion.png")
    long = {name: pd.concat([t.assign(repeat=r) for (m, r), t in tables.items()], ignore_index=True)
            for name, tables in (("class", per_class), ("metric", overall))}
    long["class"].to_csv(tmp / "class_intervals.csv", index=False)
    long["metric"].to_csv(tmp / "metric_intervals.csv", index=False)
    mean_class = mean_over_repeats({i: t for i, t in enumerate(per_class.values())}, ["model", "class", "metric"])
    mean_metric = mean_over_repeats({i: t for i, t in enumerate(overall.values())}, ["model", "metric"])
    text = ("## Out-of-fold metrics with bootstrap 95 % CIs\n\nMean over repeats of each repeat's estimate and "
            f"percentile interval ({options.n_resamples} resamples of the cases; a case appears once per repeat, "
            "so repeats are not pooled). Per-repeat rows: metric_intervals.csv, class_intervals.csv.\n\n"
            + _ci_cells(mean_metric, ["model", "metric"])
            + "\n### Per class (one-vs-rest)\n\n" + _ci_cells(mean_class, ["model", "class", "metric"]))
    if len(classes) == 2:
        rows = []
        for model, part in predictions.groupby("model", sort=False):
            scores = [brier_score(p["label"], p["probability"]) for _, p in part.groupby("repeat")]
            brier[model] = float(np.mean(scores))
            # the curve pools the repeats: it shows calibration, no interval is drawn from it
            curves[model] = calibration_table(part["label"], part["probability"])
            rows.append(curves[model].assign(model=model, brier=brier[model]))
        pd.concat(rows, ignore_index=True).to_csv(tmp / "calibration.csv", index=False)
        save_figure(plot_calibration(curves, brier), tmp / "calibration.png")
        text += "\n### Calibration\n\n" + "".join(f"- {m}: Brier score {b:.3f} (mean over repeats)\n"
                                                   for m, b in brier.items())
    if subgroups:
        long_sub = pd.concat(subgroups, ignore_index=True)
        long_sub.to_csv(tmp / "subgroups.csv", index=False)
        keys = ["model", "covariate", "subgroup", "metric"]
        mean_sub = long_sub.drop(columns="repeat").groupby(keys, sort=False, dropna=False).mean(
            numeric_only=True).reset_index()
        save_figure(plot_subgroups(mean_sub), tmp / "subgroups.png")
        text += "\n## Subgroups\n\n" + _ci_cells(mean_sub.assign(n=mean_sub["n"].astype(int)),
                                                  ["model", "covariate", "subgroup", "n", "metric"])
    return text


def _auc(y: np.ndarray, proba: np.ndarray) -> float:
    from mgmtfeat.evaluation import fold_metrics

    return fold_metrics(y, proba)["auc"]


def test_reports(tmp: Path, fold_models: Mapping[str, tuple[list, np.ndarray]], test, classes: list, options,
                 seed: int) -> str:
    """Score the fold models of each model once on the test cohort; write the test tables and figure.

    Parameters
    ----------
    fold_models : mapping model -> (fitted fold models, X of the test cases)
    test : FeatureSet
        The test cases, ``y`` encoded like the training classes.

    Notes
    -----
    Files: ``test_predictions.csv``, ``test_metrics.csv`` (bootstrap CIs, ``--bootstrap-fraction``
    passed as ``fraction``), ``test_stability.csv``/``.png`` (AUC mean and SD over random subsets of
    1..K fold models).
    """
    from mgmtfeat.models.ensemble import bundle_proba

    ci = {"random_state": seed, "n_resamples": options.n_resamples, "fraction": options.bootstrap_fraction}
    y, predictions, metrics, stability = test.y, [], [], []
    rng = np.random.default_rng(seed)
    for model, (models, X) in fold_models.items():
        proba = bundle_proba(len(classes), models, X, options.ensemble)
        frame = pd.DataFrame({"model": model, "case_id": list(test.case_ids), "label": y})
        for k, name in enumerate(classes):
            frame[f"prob_{name}"] = proba[:, k]
        predictions.append(frame)
        metrics += [task_intervals(y, proba, **ci).assign(model=model),
                    per_class_intervals(y, proba, [str(c) for c in classes], **ci).assign(model=model)]
        member = np.stack([m.predict_proba(X) for m in models])  # (K, n_test, n_classes), predicted once
        for size in range(1, len(models) + 1):
            subsets = list(itertools.combinations(range(len(models)), size))
            if len(subsets) > _MAX_SUBSETS:
                subsets = [tuple(sorted(rng.choice(len(models), size, replace=False))) for _ in range(_MAX_SUBSETS)]
            aucs = [_auc(y, _combine(member[list(s)], options.ensemble)) for s in subsets]
            stability.append({"model": model, "size": size, "auc_mean": float(np.mean(aucs)),
                              "auc_sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0, "n_subsets": len(aucs)})
    pd.concat(predictions, ignore_index=True).to_csv(tmp / "test_predictions.csv", index=False)
    metrics = pd.concat(metrics, ignore_index=True)
    metrics.to_csv(tmp / "test_metrics.csv", index=False)
    stability = pd.DataFrame(stability)
    stability.to_csv(tmp / "test_stability.csv", index=False)
    save_figure(plot_stability(stability), tmp / "test_stability.png")
    how = f"subsamples of {options.bootstrap_fraction:.0%} of the cases" if options.bootstrap_fraction else "bootstrap"
    return (f"## Held-out test cohort ({len(y)} cases, scored once)\n\nThe fold models of the first CV repeat, "
            f"combined by {options.ensemble} ({'mean probability' if options.ensemble == 'mean' else 'share of votes'}"
            f"); 95 % CIs from {how}.\n\n" + _ci_cells(metrics.fillna({"class": ""}), ["model", "class", "metric"]))


class _Fixed:
    """A stand-in estimator that returns precomputed probabilities (the stability curve predicts once)."""

    def __init__(self, proba: np.ndarray):
        self.proba = proba

    def predict_proba(self, X):
        return self.proba


def _combine(member: np.ndarray, ensemble: str) -> np.ndarray:
    """Combine member probabilities (n_members, n_cases, K) exactly as ``bundle_proba`` does."""
    from mgmtfeat.models.ensemble import bundle_proba

    return bundle_proba(member.shape[2], [_Fixed(p) for p in member], None, ensemble)


def site_comparison(tmp: Path, separate: Mapping[str, pd.DataFrame], mixed: Mapping[str, pd.DataFrame],
                    column: str) -> str:
    """Co-site (sites mixed) vs separate-site (sites held out) AUC of each model on the same cases.

    Writes ``site_comparison.csv`` and ``.png``; returns the Markdown section.
    """
    rows = []
    for model in separate:
        for scheme, metrics in (("co-site (sites mixed)", mixed[model]), ("separate-site (held out)", separate[model])):
            auc = metrics["auc"].to_numpy(float)
            rows.append({"model": model, "scheme": scheme, "auc_mean": float(np.nanmean(auc)),
                         "auc_sd": float(np.nanstd(auc, ddof=1)) if len(auc) > 1 else float("nan"),
                         "n_folds": len(auc)})
    table = pd.DataFrame(rows)
    table.to_csv(tmp / "site_comparison.csv", index=False)
    save_figure(plot_site_comparison(table, f"Co-site vs separate-site CV (sites: {column})"),
                tmp / "site_comparison.png")
    lines = ["| model | scheme | AUC mean (SD) | folds |", "|---|---|---|---|"]
    lines += [f"| {r.model} | {r.scheme} | {r.auc_mean:.3f} ({r.auc_sd:.3f}) | {r.n_folds} |" for r in table.itertuples()]
    return (f"## Site comparison ({column})\n\nSame cases and models; co-site folds are plain stratified "
            "(a site may be on both sides), separate-site folds keep each site on one side.\n\n" + "\n".join(lines) + "\n")
