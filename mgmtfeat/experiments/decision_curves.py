"""Decision curve analysis (the paper's Figure 4): net benefit of out-of-fold probabilities."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import net_benefit
from mgmtfeat.experiments.base import (ExperimentSettings, available_modalities, check_models, check_out_folder,
                                       finish_results, net_inputs, open_cohort, pick_net, prepare_out, progress_bar,
                                       run_cv, table_title, write_table)
from mgmtfeat.reports import cells_to_markdown, plot_decision_curves, save_figure

__all__ = ["decision_curve_analysis"]


def decision_curve_analysis(settings: ExperimentSettings, models: Sequence[str] = ("snn", "mlp"),
                            net: str | None = None) -> dict[str, pd.DataFrame]:
    """Net benefit of out-of-fold probabilities against threshold, with treat-all and treat-none.

    Each repeat's out-of-fold probabilities cover every case once; net benefit is computed per
    repeat and averaged. Each model uses its default inputs.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"decision_curves": long table (threshold, model, treat_all, treat_none, model_name),
        "summary": net benefit at thresholds 0.3 to 0.7}``.
    """
    from mgmtfeat.models import MODELS

    out = check_out_folder(settings)  # refused before anything is read
    check_models(models)
    cohort = open_cohort(settings, [net] if net else None)
    net = pick_net(cohort, net)
    stored = available_modalities(cohort.store, net)
    thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
    curves = {}
    with progress_bar(settings, cohort, len(models), "decision curves") as bar:
        for model in models:
            inputs = net_inputs(net, [m for m in MODELS[model].modalities if m in stored])
            result = run_cv(cohort, settings, model, inputs, bar)  # memoised: other experiments reuse it
            per_repeat = [net_benefit(part["label"], part["probability"], thresholds)
                          for _, part in result.predictions.groupby("repeat")]
            curves[model] = pd.concat(per_repeat).groupby("threshold", as_index=False).mean()
    long = pd.concat([c.assign(model_name=m) for m, c in curves.items()], ignore_index=True)
    picks = [0.3, 0.4, 0.5, 0.6, 0.7]
    summary = long[long.threshold.isin(picks)].pivot(index="threshold", columns="model_name", values="model")
    summary["treat all"] = curves[models[0]].set_index("threshold").loc[picks, "treat_all"]
    summary["treat none"] = 0.0
    summary = summary.reset_index()
    shown = summary.assign(**{c: summary[c].map(lambda v: f"{v:.3f}") for c in summary.columns if c != "threshold"})
    title = table_title("Decision curve analysis (net benefit, mean over repeats)", cohort, settings)
    tmp = prepare_out(out, settings.force)  # .NAME.partial, renamed to NAME by finish_results
    write_table(tmp, "decision_curves", summary, cells_to_markdown(shown), title.replace("\n", " — "),
                notes=["Net benefit = TP/n − FP/n × t/(1 − t) at threshold probability t; the full curves are in "
                       "decision_curves_full.csv."])
    long.to_csv(tmp / "decision_curves_full.csv", index=False)
    save_figure(plot_decision_curves(curves, title=title), tmp / "decision_curves.png")
    finish_results(tmp, out, settings, cohort)
    return {"decision_curves": long, "summary": summary}
