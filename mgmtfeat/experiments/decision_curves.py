"""Decision curve analysis (the paper's Figure 4): net benefit of out-of-fold probabilities."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import net_benefit
from mgmtfeat.experiments._common import (ExperimentSettings, _bar, _check_models, _check_out, _cv, _finish,
                                          _net_inputs, _open, _pick_net, _prepare_out, _title, _write,
                                          available_modalities)
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

    out = _check_out(settings)
    _check_models(models)
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    stored = available_modalities(cohort.store, net)
    thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
    curves = {}
    with _bar(settings, cohort, len(models), "decision curves") as bar:
        for model in models:
            inputs = _net_inputs(net, [m for m in MODELS[model].modalities if m in stored])
            result = _cv(cohort, settings, model, inputs, bar)
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
    title = _title("Decision curve analysis (net benefit, mean over repeats)", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "decision_curves", summary, cells_to_markdown(shown), title.replace("\n", " — "),
           notes=["Net benefit = TP/n − FP/n × t/(1 − t) at threshold probability t; the full curves are in "
                  "decision_curves_full.csv."])
    long.to_csv(tmp / "decision_curves_full.csv", index=False)
    save_figure(plot_decision_curves(curves, title=title), tmp / "decision_curves.png")
    _finish(tmp, out, settings, cohort)
    return {"decision_curves": long, "summary": summary}
