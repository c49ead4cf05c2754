"""Table 2: each input alone, each input left out, and all inputs (the modality ablation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import versus_reference
from mgmtfeat.experiments.base import (ExperimentError, ExperimentSettings, available_modalities, check_out_folder,
                                       finish_results, metrics_long, net_inputs, open_cohort, pick_net, prepare_out,
                                       progress_bar, run_cv, summary_row, table_title, write_table)
from mgmtfeat.reports import INPUT_LABELS, cells_to_markdown, metric_cells, plot_modalities, save_figure

__all__ = ["PAPER_MODALITY_R", "modality_ablation"]

#: Pearson r between single-input and left-out AUCs that the paper reports.
PAPER_MODALITY_R = -0.90


def modality_ablation(settings: ExperimentSettings, model: str = "snn",
                      net: str | None = None) -> dict[str, pd.DataFrame]:
    """Table 2: each input alone, each input left out (missingness) and all inputs.

    Also the Pearson correlation between the single-input AUCs and the leave-one-out AUCs
    (paper: r = -0.90), defined from three inputs on; it has one point per input (five with the
    delta-T1 input), so its P is that of a handful of points. Each configuration's AUC gets a 95 %
    CI over folds and a corrected resampled t-test against all inputs on the same folds
    (:func:`mgmtfeat.evaluation.versus_reference`).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"table2": one row per configuration (with auc_ci_low, auc_ci_high, auc_difference and
        p_vs_reference against "all: all"), "correlation": pearson_r, p_value, n_inputs (= the number
        of points), paper_r}``.
    """
    from scipy import stats

    out = check_out_folder(settings)
    cohort = open_cohort(settings, [net] if net else None)
    net = pick_net(cohort, net)
    mods = available_modalities(cohort.store, net)
    if len(mods) < 2:
        raise ExperimentError(f"store {cohort.store.root} holds only {mods} for net {net}; the modality ablation "
                              "needs at least two inputs: extract all modalities first.")
    configs = [("single", m, [m]) for m in mods] + [("left out", m, [x for x in mods if x != m]) for m in mods]
    configs.append(("all", "all", mods))
    results, rows = {}, []
    with progress_bar(settings, cohort, len(configs), "table 2") as bar:
        for setting, name, used in configs:
            key = f"{setting}: {name}"
            results[key] = run_cv(cohort, settings, model, net_inputs(net, used), bar)
            rows.append({"setting": setting, "input": name, "inputs": "+".join(used), **summary_row(results[key])})
    versus = versus_reference({k: r.metrics for k, r in results.items()}, "all: all").drop(columns="configuration")
    table = pd.concat([pd.DataFrame(rows), versus], axis=1)
    single = table[table.setting == "single"].set_index("input")["auc_mean"]
    left = table[table.setting == "left out"].set_index("input")["auc_mean"]
    if len(mods) >= 3:
        r, p = stats.pearsonr(single[mods], left[mods])
    else:
        r, p = np.nan, np.nan
    correlation = pd.DataFrame([{"pearson_r": float(r), "p_value": float(p), "n_inputs": len(mods),
                                 "paper_r": PAPER_MODALITY_R}])
    shown = pd.concat([table[["setting", "input"]].replace(INPUT_LABELS), metric_cells(table)], axis=1)
    shown.insert(3, "AUC 95% CI", [f"{lo:.3f} to {hi:.3f}" for lo, hi in zip(table.auc_ci_low, table.auc_ci_high)])
    shown.insert(4, "AUC minus all (P)", [f"{d:+.3f} (P = {q:.3g})" if np.isfinite(q) else "" for d, q in
                                          zip(table.auc_difference, table.p_vs_reference)])
    title = table_title(f"Table 2: inputs of the {model} (mean ± SEM over folds)", cohort, settings)
    note = (f"Pearson r between single-input and left-out AUCs over the {len(mods)} inputs ({len(mods)} points, "
            f"one per input; each point a mean AUC over folds): r = {r:.2f} (P = {p:.3f}, {len(mods) - 2} df); "
            f"the paper reports r = {PAPER_MODALITY_R:.2f}. ± is the SEM over folds, descriptive only; the 95% CI "
            "and the P against all inputs use Nadeau and Bengio's corrected resampled t statistics over the same "
            "(repeat, fold) pairs.")
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "table2", table, cells_to_markdown(shown), title.replace("\n", " — "), notes=[note])
    correlation.to_csv(tmp / "correlation.csv", index=False)
    metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    figure = plot_modalities(table, mods, r, table_title("Table 2: single input vs left out", cohort, settings),
                             paper_r=PAPER_MODALITY_R)
    save_figure(figure, tmp / "modalities.png")
    finish_results(tmp, out, settings, cohort, {"pearson_r": r, "p_value": p})
    return {"table2": table, "correlation": correlation}
