"""The SNN's attention over inputs in the out-of-fold run (the paper's Figures 5 and 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import sem
from mgmtfeat.experiments.base import (ExperimentError, ExperimentSettings, available_modalities, check_models,
                                       check_out_folder, finish_results, net_inputs, open_cohort, pick_net,
                                       prepare_out, progress_bar, run_cv, table_title, write_table)
from mgmtfeat.reports import (INPUT_LABELS, cells_to_markdown, plot_attention, plot_attention_examples,
                              save_figure)

__all__ = ["attention_analysis"]


def _attention_models() -> list[str]:
    from mgmtfeat.models import MODELS

    return [name for name, spec in MODELS.items() if hasattr(spec.build(0), "attention_weights")]


def attention_analysis(settings: ExperimentSettings, model: str = "snn", net: str | None = None,
                       n_examples: int = 2) -> dict[str, pd.DataFrame]:
    """Per-case SNN attention over inputs in the out-of-fold run (Figure 5) and example cases (Figure 3).

    The examples are the most confidently correct methylated and unmethylated cases of the first
    repeat.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"attention": mean ± SD per input, "examples": the example cases' weights}``.
    """
    from mgmtfeat.models import MODELS

    out = check_out_folder(settings)
    check_models([model])
    if not hasattr(MODELS[model].build(0), "attention_weights"):
        raise ExperimentError(f"model {model} has no attention weights; use a model that has: "
                              f"{', '.join(_attention_models())}.")
    cohort = open_cohort(settings, [net] if net else None)
    net = pick_net(cohort, net)
    inputs = net_inputs(net, available_modalities(cohort.store, net))
    with progress_bar(settings, cohort, 1, "attention") as bar:
        result = run_cv(cohort, settings, model, inputs, bar)
    weights = result.extras["attention"]
    names = [INPUT_LABELS.get(i.split(":", 1)[1], i) for i in inputs]
    table = pd.DataFrame({"input": names, "mean": weights[inputs].mean().to_numpy(),
                          "sd": weights[inputs].std().to_numpy(),
                          "sem_over_folds": [sem(weights.assign(fold=_fold_of(result, weights))
                                                 .groupby(["repeat", "fold"])[i].mean()) for i in inputs]})
    first = result.predictions[result.predictions.repeat == result.predictions.repeat.min()]
    picks = [first[first.label == 1].nlargest(1, "probability"), first[first.label == 0].nsmallest(1, "probability")]
    chosen = pd.concat(picks[:n_examples])
    w0 = weights[weights.repeat == first.repeat.min()].set_index("case_id")
    examples = pd.DataFrame([{"case_id": r.case_id, "label": int(r.label), "probability": float(r.probability),
                              **{n: float(w0.loc[r.case_id, i]) for n, i in zip(names, inputs)}}
                             for r in chosen.itertuples()])
    shown = table.assign(**{"mean ± SD": [f"{m:.3f} ± {s:.3f}" for m, s in zip(table["mean"], table["sd"])]})[
        ["input", "mean ± SD"]]
    title = table_title(f"Attention of the {model} over inputs (out-of-fold cases)", cohort, settings)
    examples_md = cells_to_markdown(examples.assign(**{c: examples[c].map(lambda v: f"{v:.3f}")
                                                       for c in ["probability", *names]}))
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "attention", table, cells_to_markdown(shown), title.replace("\n", " — "),
                notes=[f"Uniform attention would be {1 / len(inputs):.3f} per input. Examples (Figure 3):\n\n"
                       + examples_md])
    examples.to_csv(tmp / "examples.csv", index=False)
    weights.to_csv(tmp / "attention_per_case.csv", index=False)
    renamed = weights.rename(columns=dict(zip(inputs, names)))[["case_id", "repeat", *names]]
    save_figure(plot_attention(renamed, title=title), tmp / "attention.png")
    save_figure(plot_attention_examples(examples, names, f"Attention of two example cases\n{cohort.label}"),
                tmp / "examples.png")
    finish_results(tmp, out, settings, cohort)
    return {"attention": table, "examples": examples}


def _fold_of(result, weights: pd.DataFrame) -> np.ndarray:
    fold = result.predictions.set_index(["case_id", "repeat"])["fold"]
    return fold.loc[list(zip(weights["case_id"], weights["repeat"]))].to_numpy()
