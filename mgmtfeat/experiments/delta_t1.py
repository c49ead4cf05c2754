"""The delta-T1 ablation: the same model with and without the delta-T1 input, paired per fold."""

from __future__ import annotations

import pandas as pd

from mgmtfeat.evaluation import sem, wilcoxon_paired
from mgmtfeat.experiments._common import (ExperimentError, ExperimentSettings, _bar, _check_out, _cv, _finish,
                                          _metrics_long, _net_inputs, _open, _pick_net, _prepare_out, _title, _write,
                                          available_modalities)
from mgmtfeat.reports import TABLE_METRICS, cells_to_markdown, plot_paired, plus_minus, save_figure

__all__ = ["PAPER_DELTA_T1_P", "delta_t1_ablation"]

#: Wilcoxon P for AUC with against without delta-T1 that the paper reports.
PAPER_DELTA_T1_P = 0.03


def delta_t1_ablation(settings: ExperimentSettings, model: str = "snn",
                      net: str | None = None) -> dict[str, pd.DataFrame]:
    """With and without the delta-T1 input, paired per fold, Wilcoxon signed-rank P (paper: P = 0.03 for AUC).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"delta_t1": one row per metric: with/without mean and SEM, mean difference, folds better
        with, Wilcoxon P}``.
    """
    out = _check_out(settings)
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    mods = available_modalities(cohort.store, net)
    if "delta_t1" not in mods:
        raise ExperimentError(
            f"store {cohort.store.root} has no delta_t1 features for net {net}; extract them first with "
            f"`python -m mgmtfeat.extract --data DIR --out {cohort.store.root} --net {net} --force` "
            "(the delta-T1 clip is T1wCE minus T1 and needs both on one grid)."
        )
    if len(mods) < 2:
        raise ExperimentError(f"store {cohort.store.root} holds only delta_t1 for net {net}; "
                              "extract the other modalities first.")
    without = [m for m in mods if m != "delta_t1"]
    with _bar(settings, cohort, 2, "delta-T1") as bar:
        with_ = _cv(cohort, settings, model, _net_inputs(net, mods), bar)
        without_ = _cv(cohort, settings, model, _net_inputs(net, without), bar)
    a = with_.metrics.set_index(["repeat", "fold"]).sort_index()
    b = without_.metrics.set_index(["repeat", "fold"]).sort_index()
    rows = []
    for metric in TABLE_METRICS:
        rows.append({"metric": metric, "with_mean": a[metric].mean(), "with_sem": sem(a[metric]),
                     "without_mean": b[metric].mean(), "without_sem": sem(b[metric]),
                     "difference_mean": float((a[metric] - b[metric]).mean()),
                     "folds_with_better": int((a[metric] > b[metric]).sum()), "n_folds": len(a),
                     "wilcoxon_p": wilcoxon_paired(a[metric], b[metric])})
    table = pd.DataFrame(rows)
    shown = pd.DataFrame({"metric": table["metric"].replace({"auc": "AUC"}),
                          "with delta-T1": [plus_minus(m, s) for m, s in zip(table.with_mean, table.with_sem)],
                          "without delta-T1": [plus_minus(m, s) for m, s in zip(table.without_mean, table.without_sem)],
                          "mean difference": table.difference_mean.map(lambda v: f"{v:+.3f}"),
                          "folds better with": [f"{w}/{n}" for w, n in zip(table.folds_with_better, table.n_folds)],
                          "Wilcoxon P": table.wilcoxon_p.map(lambda v: f"{v:.3g}")})
    title = _title(f"Delta-T1: {model} with and without the delta-T1 input, paired per fold", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "delta_t1", table, cells_to_markdown(shown), title.replace("\n", " — "),
           notes=[f"Two-sided Wilcoxon signed-rank test over the {len(a)} paired folds; the paper reports "
                  f"P = {PAPER_DELTA_T1_P} for AUC."])
    _metrics_long({"with delta-T1": with_, "without delta-T1": without_}).to_csv(tmp / "metrics.csv", index=False)
    auc = table.set_index("metric").loc["auc"]
    figure = plot_paired(a["auc"], b["auc"], auc["with_sem"], auc["without_sem"], float(auc["wilcoxon_p"]), title)
    save_figure(figure, tmp / "delta_t1.png")
    _finish(tmp, out, settings, cohort)
    return {"delta_t1": table}
