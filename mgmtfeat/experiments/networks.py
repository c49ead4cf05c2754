"""Table 3: the same model on the features of each net in the store (common cases, same folds)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import versus_reference
from mgmtfeat.experiments.base import (ExperimentSettings, check_out_folder, finish_results, is_random_net,
                                       metrics_long, net_inputs, open_cohort, prepare_out, progress_bar, run_cv,
                                       summary_row, table_title, write_table)
from mgmtfeat.reports import cells_to_markdown, metric_cells, plot_auc_bars, save_figure

__all__ = ["network_comparison"]


def network_comparison(settings: ExperimentSettings, model: str = "snn", nets: Sequence[str] | None = None,
                       modalities: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Table 3: the same model on the features of each net in the store (common cases, same folds).

    Parameters
    ----------
    nets : sequence of str or None
        Nets to compare (at least two); None = every net in the store.
    modalities : sequence of str or None
        Inputs; None = those every compared net has.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"table3": one row per net, flagging random-weight nets}``, with each net's AUC 95 % CI
        over folds (``auc_ci_low``, ``auc_ci_high``) and its corrected resampled t-test against the
        net of highest mean AUC (``reference``, ``auc_difference``, ``p_vs_reference``): the nets
        share the saved folds, so the test pairs them by (repeat, fold).
    """
    out = check_out_folder(settings)
    cohort = open_cohort(settings, nets, modalities, min_nets=2)
    mods = [i.split(":", 1)[1] for i in cohort.data.inputs if i.startswith(cohort.nets[0] + ":")]
    results, rows = {}, []
    with progress_bar(settings, cohort, len(cohort.nets), "table 3") as bar:
        for net in cohort.nets:
            results[net] = run_cv(cohort, settings, model, net_inputs(net, mods), bar)
            rows.append({"net": net, "random_weights": is_random_net(cohort.store, net), "inputs": "+".join(mods),
                         **summary_row(results[net])})
    table = pd.DataFrame(rows)
    best = str(table.loc[table["auc_mean"].idxmax(), "net"])
    versus = versus_reference({n: r.metrics for n, r in results.items()}, best).drop(columns="configuration")
    table = pd.concat([table, versus], axis=1)
    shown = pd.concat([table[["net", "random_weights"]], metric_cells(table)], axis=1)
    shown.insert(3, "AUC 95% CI", [f"{lo:.3f} to {hi:.3f}" for lo, hi in zip(table.auc_ci_low, table.auc_ci_high)])
    shown.insert(4, f"AUC minus {best} (P)", [f"{d:+.3f} (P = {q:.3g})" if np.isfinite(q) else "" for d, q in
                                              zip(table.auc_difference, table.p_vs_reference)])
    title = table_title(f"Table 3: {model} on the features of each net", cohort, settings)
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "table3", table, cells_to_markdown(shown), title.replace("\n", " — "), notes=[
        f"± is the SEM over folds, descriptive only. The 95% CI and the P against {best} (the highest mean AUC, "
        "so chosen after the fact; P not adjusted for the number of nets) use Nadeau and Bengio's corrected "
        "resampled t statistics over the same (repeat, fold) pairs."])
    metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    save_figure(plot_auc_bars(table["net"], table, "Net", title), tmp / "networks.png")
    finish_results(tmp, out, settings, cohort)
    return {"table3": table}
