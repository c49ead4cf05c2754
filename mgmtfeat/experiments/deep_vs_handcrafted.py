"""Deep against handcrafted features: each net alone and all fused, per model, on the same saved folds.

The question of the radiomics baseline: do the video networks' features (e.g. I3D's 400 logits per
input) predict MGMT better than pyradiomics' handcrafted ones (``extract --net radiomics``, 107 per
input), and does fusing them add anything? Every configuration (each net alone, then all nets as
inputs of one model) is cross-validated with each model on the store's saved folds, so the
configurations are paired fold by fold: the table gives each one's AUC with its corrected 95 % CI
and the corrected resampled t-test (Nadeau and Bengio) against the fused configuration of the same
model. Nets of different lengths are fused as they are: the classical models take the
concatenation, the SNN gives each input its own encoder (:func:`mgmtfeat.models.input_params`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import versus_reference
from mgmtfeat.experiments.base import (ExperimentError, ExperimentSettings, check_out_folder, finish_results,
                                       metrics_long, net_inputs, open_cohort, prepare_out, progress_bar, run_cv,
                                       summary_row, table_title, write_table)
from mgmtfeat.reports import cells_to_markdown, metric_cells, plot_auc_bars, save_figure

__all__ = ["deep_vs_handcrafted"]


def deep_vs_handcrafted(settings: ExperimentSettings, models: Sequence[str] = ("logistic", "snn"),
                        nets: Sequence[str] | None = None,
                        modalities: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Each net alone and all nets fused, for each model (common cases, same folds).

    Parameters
    ----------
    settings : ExperimentSettings
    models : sequence of str
        Models to fit on every configuration (default: logistic regression and the SNN).
    nets : sequence of str or None
        At least two nets, e.g. ``("i3d", "radiomics")``; None = every net in the store.
    modalities : sequence of str or None
        Inputs; None = those every net has.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"deep_vs_handcrafted": one row per (model, configuration)}`` with ``model``,
        ``features`` (a net, or the nets joined by ``+``), ``n_features`` (per case), the
        ``METRIC_mean``/``METRIC_sem`` columns, ``auc_ci_low``/``auc_ci_high`` (corrected 95 % CI)
        and, against the fused configuration of the same model, ``auc_difference`` and
        ``p_vs_reference``.
    """
    out = check_out_folder(settings)
    cohort = open_cohort(settings, nets, modalities, min_nets=2)
    if not any(cohort.store.provenance(net).get("kind") == "radiomics" for net in cohort.nets):
        raise ExperimentError(
            f"deep-vs-handcrafted compares with handcrafted features, but none of {', '.join(cohort.nets)} in store "
            f"{cohort.store.root} is one; extract them first with `mgmtfeat extract --net radiomics --data DIR "
            f"--out {cohort.store.root}`.")
    mods = [i.split(":", 1)[1] for i in cohort.data.inputs if i.startswith(cohort.nets[0] + ":")]
    fused = "+".join(cohort.nets)
    configurations = {**{net: net_inputs(net, mods) for net in cohort.nets},
                      fused: [i for net in cohort.nets for i in net_inputs(net, mods)]}
    tables, results = [], {}
    with progress_bar(settings, cohort, len(models) * len(configurations), "deep vs handcrafted") as bar:
        for model in models:
            per_model = {}
            for name, inputs in configurations.items():
                per_model[name] = results[f"{model} {name}"] = run_cv(cohort, settings, model, inputs, bar)
            rows = pd.DataFrame([{"model": model, "features": name,
                                  "n_features": int(cohort.data.select(configurations[name]).X2d.shape[1]),
                                  **summary_row(result)} for name, result in per_model.items()])
            versus = versus_reference({n: r.metrics for n, r in per_model.items()}, fused)
            tables.append(pd.concat([rows, versus.drop(columns="configuration")], axis=1))
    table = pd.concat(tables, ignore_index=True)
    shown = pd.concat([table[["model", "features", "n_features"]], metric_cells(table)], axis=1)
    shown.insert(4, "AUC 95% CI", [f"{lo:.3f} to {hi:.3f}" for lo, hi in zip(table.auc_ci_low, table.auc_ci_high)])
    shown.insert(5, "AUC minus fused (P)", [f"{d:+.3f} (P = {q:.3g})" if np.isfinite(q) else "" for d, q in
                                            zip(table.auc_difference, table.p_vs_reference)])
    title = table_title(f"Deep against handcrafted features: {', '.join(cohort.nets)} alone and fused", cohort, settings)
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "deep_vs_handcrafted", table, cells_to_markdown(shown), title.replace("\n", " — "), notes=[
        f"Each configuration on the same saved folds. ± is the SEM over folds, descriptive only. The 95% CI and "
        f"the P against the fused configuration ({fused}) of the same model use Nadeau and Bengio's corrected "
        "resampled t statistics over the same (repeat, fold) pairs; P not adjusted for multiple comparisons."])
    metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    save_figure(plot_auc_bars([f"{m}\n{f}" for m, f in zip(table["model"], table["features"])], table,
                              "Model and features", title), tmp / "deep_vs_handcrafted.png")
    finish_results(tmp, out, settings, cohort)
    return {"deep_vs_handcrafted": table}
