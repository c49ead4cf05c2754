"""Table 1: each model on its default inputs, beside the AUCs the paper lists from the literature."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import versus_reference
from mgmtfeat.experiments.base import (DEFAULT_METHODS, ExperimentError, ExperimentSettings, available_modalities,
                                       check_models, check_out_folder, finish_results, metrics_long, net_inputs,
                                       open_cohort, pick_net, prepare_out, progress_bar, run_cv, summary_row,
                                       table_title, write_table)
from mgmtfeat.reports import cells_to_markdown, metric_cells, plot_method_aucs, plot_roc, save_figure

__all__ = ["LITERATURE", "method_comparison"]

#: AUCs listed in the paper's Table 1 (mean, ± value as reported or None); not reproduced here.
LITERATURE = {
    "Baid et al.": (0.622, None),
    "Saeed et al.": (0.631, 0.001),
    "Emchinov et al.": (0.596, 0.040),
    "Kim et al.": (0.549, 0.054),
    "Yogananda et al.": (0.580, 0.081),
    "Faghani et al.": (0.632, 0.027),
    "paper MLP (T1wCE)": (0.618, 0.039),
    "paper SNN": (0.666, 0.031),
}


def method_comparison(settings: ExperimentSettings, models: Sequence[str] = DEFAULT_METHODS,
                      net: str | None = None) -> dict[str, pd.DataFrame]:
    """Table 1: each model on its default inputs, beside the AUCs reported in the literature.

    Parameters
    ----------
    settings : ExperimentSettings
        Store, folds, output folder and model overrides.
    models : sequence of str
        Names from :data:`mgmtfeat.models.MODELS`, one row each.
    net : str or None
        Net whose features are used; None = the first in the store.

    Notes
    -----
    Each model's AUC gets a 95 % CI over folds with Nadeau and Bengio's correction, and each model is
    compared with the SNN (the first model when ``snn`` is not among them) by the corrected resampled
    t-test over the same (repeat, fold) pairs (:func:`mgmtfeat.evaluation.versus_reference`).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"table1": one row per model and literature entry}``, with ``auc_ci_low``, ``auc_ci_high``,
        ``reference``, ``auc_difference`` and ``p_vs_reference`` for the models of this run; writes ``table1.csv``/``.md``,
        ``metrics.csv``, ``predictions.csv``, ``roc.png`` and ``auc.png``.
    """
    from mgmtfeat.models import MODELS

    out = check_out_folder(settings)
    check_models(models)
    cohort = open_cohort(settings, [net] if net else None)
    net = pick_net(cohort, net)
    stored = available_modalities(cohort.store, net)
    results, rows = {}, []
    with progress_bar(settings, cohort, len(models), "table 1") as bar:
        for model in models:
            wanted = [m for m in MODELS[model].modalities if m in stored]
            if not wanted:
                raise ExperimentError(f"model {model} uses {', '.join(MODELS[model].modalities)}, which store "
                                      f"{cohort.store.root} lacks for net {net}; extract them first.")
            results[model] = run_cv(cohort, settings, model, net_inputs(net, wanted), bar)
            rows.append({"method": model, "source": "this run", "inputs": "+".join(wanted),
                         **summary_row(results[model])})
    reference = "snn" if "snn" in results else models[0]
    versus = versus_reference({m: r.metrics for m, r in results.items()}, reference).drop(columns="configuration")
    rows = [{**row, **extra} for row, extra in zip(rows, versus.to_dict("records"))]
    for name, (auc, err) in LITERATURE.items():
        rows.append({"method": name, "source": "reported, not reproduced", "inputs": "", "auc_mean": auc,
                     "auc_sem": np.nan if err is None else err})
    table = pd.DataFrame(rows)
    shown = pd.concat([table[["method", "source", "inputs"]], metric_cells(table)], axis=1)
    ours = table.source == "this run"
    shown.insert(4, "AUC 95% CI", [f"{lo:.3f} to {hi:.3f}" if o else "" for o, lo, hi in
                                   zip(ours, table["auc_ci_low"], table["auc_ci_high"])])
    shown.insert(5, f"AUC minus {reference} (P)", [
        f"{d:+.3f} (P = {p:.3g})" if o and np.isfinite(p) else "" for o, d, p in
        zip(ours, table["auc_difference"], table["p_vs_reference"])])
    title = table_title("Table 1: MGMT classifiers (AUC etc. mean ± SEM over folds)", cohort, settings)
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "table1", table, cells_to_markdown(shown), title.replace("\n", " — "), notes=[
        "Rows marked 'reported, not reproduced' are the AUCs the paper lists (± as reported); they come from "
        "other data splits and code, not from this run.",
        f"± is the SEM over the {len(results[reference].metrics)} folds, descriptive only (folds of repeated CV "
        "are not independent). The 95% CI and the P against the "
        f"{reference} use Nadeau and Bengio's corrected resampled t statistics over the same (repeat, fold) pairs "
        "(variance x (1/J + n_test/n_train), J - 1 df)."])
    metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    predictions = pd.concat([r.predictions.assign(model=m) for m, r in results.items()], ignore_index=True)
    predictions.to_csv(tmp / "predictions.csv", index=False)
    save_figure(plot_roc(predictions, title=table_title("Out-of-fold ROC", cohort, settings)), tmp / "roc.png")
    save_figure(plot_method_aucs(table, table_title("Table 1: AUC", cohort, settings)), tmp / "auc.png")
    finish_results(tmp, out, settings, cohort)
    return {"table1": table}
