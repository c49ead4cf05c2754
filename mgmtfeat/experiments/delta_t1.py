"""The delta-T1 ablation: the same model with and without the delta-T1 input, paired per fold."""

from __future__ import annotations

import pandas as pd

from mgmtfeat.evaluation import sem
from mgmtfeat.evaluation.compare import compare_cv_models, corrected_cv_interval
from mgmtfeat.experiments.base import (ExperimentError, ExperimentSettings, available_modalities, check_out_folder,
                                       finish_results, metrics_long, net_inputs, open_cohort, pick_net, prepare_out,
                                       progress_bar, run_cv, table_title, write_table)
from mgmtfeat.reports import TABLE_METRICS, cells_to_markdown, plot_paired, plus_minus, save_figure

__all__ = ["PAPER_DELTA_T1_P", "delta_t1_ablation"]

#: P for AUC with against without delta-T1 that the paper reports (its test: Wilcoxon over folds).
PAPER_DELTA_T1_P = 0.03


def delta_t1_ablation(settings: ExperimentSettings, model: str = "snn",
                      net: str | None = None) -> dict[str, pd.DataFrame]:
    """With and without the delta-T1 input, paired per fold (paper: P = 0.03 for AUC).

    The two configurations use the same saved folds, so they are compared by Nadeau and Bengio's
    corrected resampled t-test over the (repeat, fold) pairs
    (:func:`mgmtfeat.evaluation.compare.compare_cv_models`): repeated-CV folds share training cases,
    and a test that treats them as independent (paired t, Wilcoxon) is far too liberal.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"delta_t1": one row per metric: with/without mean and SEM over folds, mean difference with
        its corrected 95 % CI (difference_low, difference_high), folds better with, corrected t, df and
        P (p_value)}``.
    """
    out = check_out_folder(settings)
    cohort = open_cohort(settings, [net] if net else None)
    net = pick_net(cohort, net)
    mods = available_modalities(cohort.store, net)
    if "delta_t1" not in mods:
        raise ExperimentError(
            f"store {cohort.store.root} has no delta_t1 features for net {net}; extract them first with "
            f"`mgmtfeat extract --data DIR --out {cohort.store.root} --net {net} --force` "
            "(the delta-T1 clip is T1wCE minus T1 and needs both on one grid)."
        )
    if len(mods) < 2:
        raise ExperimentError(f"store {cohort.store.root} holds only delta_t1 for net {net}; "
                              "extract the other modalities first.")
    without = [m for m in mods if m != "delta_t1"]
    with progress_bar(settings, cohort, 2, "delta-T1") as bar:
        with_ = run_cv(cohort, settings, model, net_inputs(net, mods), bar)
        without_ = run_cv(cohort, settings, model, net_inputs(net, without), bar)
    a = with_.metrics.set_index(["repeat", "fold"]).sort_index()
    b = without_.metrics.set_index(["repeat", "fold"]).sort_index()
    n_train, n_test = float(a["n_train"].mean()), float(a["n_test"].mean())
    rows = []
    for metric in TABLE_METRICS:
        test = compare_cv_models(with_.metrics, without_.metrics, metric)
        # the CI of the mean paired difference is the interval that inverts the same corrected test
        ci = corrected_cv_interval((a[metric] - b[metric]).to_numpy(), n_train, n_test)
        rows.append({"metric": metric, "with_mean": a[metric].mean(), "with_sem": sem(a[metric]),
                     "without_mean": b[metric].mean(), "without_sem": sem(b[metric]),
                     "difference_mean": test.mean_difference, "difference_low": ci.low, "difference_high": ci.high,
                     "folds_with_better": int((a[metric] > b[metric]).sum()), "n_folds": len(a),
                     "t": test.t, "df": test.df, "p_value": test.p_value})
    table = pd.DataFrame(rows)
    shown = pd.DataFrame({"metric": table["metric"].replace({"auc": "AUC"}),
                          "with delta-T1": [plus_minus(m, s) for m, s in zip(table.with_mean, table.with_sem)],
                          "without delta-T1": [plus_minus(m, s) for m, s in zip(table.without_mean, table.without_sem)],
                          "mean difference (95% CI)": [f"{d:+.3f} ({lo:+.3f} to {hi:+.3f})" for d, lo, hi in
                                                       zip(table.difference_mean, table.difference_low,
                                                           table.difference_high)],
                          "folds better with": [f"{w}/{n}" for w, n in zip(table.folds_with_better, table.n_folds)],
                          "corrected t-test P": table.p_value.map(lambda v: f"{v:.3g}")})
    title = table_title(f"Delta-T1: {model} with and without the delta-T1 input, paired per fold", cohort, settings)
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "delta_t1", table, cells_to_markdown(shown), title.replace("\n", " — "),
                notes=[f"Nadeau–Bengio corrected resampled t-test over the {len(a)} folds paired by (repeat, fold), "
                       f"variance x (1/{len(a)} + {n_test:.0f}/{n_train:.0f}), {len(a) - 1} df, two-sided; the CI of "
                       f"the difference is its inverse. SEMs over folds treat folds as independent and are "
                       f"descriptive only. The paper reports P = {PAPER_DELTA_T1_P} for AUC (Wilcoxon over folds, "
                       "uncorrected)."])
    metrics_long({"with delta-T1": with_, "without delta-T1": without_}).to_csv(tmp / "metrics.csv", index=False)
    auc = table.set_index("metric").loc["auc"]
    figure = plot_paired(a["auc"], b["auc"], auc["with_sem"], auc["without_sem"], float(auc["p_value"]), title,
                         test="corrected resampled t-test")
    save_figure(figure, tmp / "delta_t1.png")
    finish_results(tmp, out, settings, cohort)
    return {"delta_t1": table}
