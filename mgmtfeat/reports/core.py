"""Tables and figures from results; nothing here fits a model."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["summary_table", "markdown_table", "plot_roc", "plot_decision_curves", "plot_attention", "save_figure"]


def summary_table(summaries: Mapping[str, Mapping], metrics: Sequence[str] = ("auc", "precision", "recall", "accuracy", "f1")) -> pd.DataFrame:
    """One row per model: ``METRIC_mean``, ``METRIC_sem``, ``METRIC_sd`` and seconds per fold."""
    rows = []
    for name, summary in summaries.items():
        row = {"model": name}
        for metric in (*metrics, "fit_seconds"):
            for stat in ("mean", "sem", "sd"):
                row[f"{metric}_{stat}"] = summary[metric][stat]
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame, metrics: Sequence[str] = ("auc", "precision", "recall", "accuracy", "f1"),
                   extra: Sequence[str] = ()) -> str:
    """Markdown table: model, each metric as mean ± SEM (SD), seconds per fold, and ``extra`` columns."""
    header = ["model", *[f"{m.upper() if m == 'auc' else m} mean ± SEM (SD)" for m in metrics], "s / fold", *extra]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["model"])]
        cells += [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_sem']:.3f} ({row[f'{m}_sd']:.3f})" for m in metrics]
        cells.append(f"{row['fit_seconds_mean']:.2f}")
        cells += [str(row[c]) for c in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure(width: float = 5.5, height: float = 4.5):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def save_figure(fig, path: str | Path) -> Path:
    """Save a figure as PNG (150 dpi) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_roc(predictions: pd.DataFrame, title: str = "Out-of-fold ROC"):
    """ROC curve of each model's out-of-fold probabilities, one curve per model (repeats pooled).

    ``predictions`` has columns ``model``, ``label``, ``probability``.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure()
    for model, part in predictions.groupby("model", sort=False):
        fpr, tpr, _ = roc_curve(part["label"], part["probability"])
        ax.plot(fpr, tpr, label=f"{model} (pooled AUC {roc_auc_score(part['label'], part['probability']):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="False positive rate (1 − specificity)", ylabel="True positive rate (sensitivity)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_decision_curves(curves: Mapping[str, pd.DataFrame], title: str = "Decision curve analysis"):
    """Net benefit against threshold probability; ``curves`` maps a model to :func:`net_benefit` output."""
    fig, ax = _figure()
    first = None
    for model, table in curves.items():
        ax.plot(table["threshold"], table["model"], label=model)
        first = table if first is None else first
    ax.plot(first["threshold"], first["treat_all"], color="grey", linestyle="--", label="treat all")
    ax.plot(first["threshold"], first["treat_none"], color="black", linestyle=":", label="treat none")
    low = min(float(np.nanmin(t["model"])) for t in curves.values())
    ax.set_ylim(max(-0.1, low - 0.02), float(first["treat_all"].max()) + 0.05)
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", title=title)
    ax.legend(fontsize=8)
    return fig


def plot_attention(attention: pd.DataFrame, title: str = "SNN attention over inputs"):
    """Bar chart of mean attention weight per input, with the SD over cases as error bars."""
    weights = attention.drop(columns=[c for c in ("case_id", "repeat", "model") if c in attention.columns])
    fig, ax = _figure(5.5, 3.8)
    ax.bar(weights.columns, weights.mean(), yerr=weights.std(), capsize=4, color="tab:blue")
    ax.axhline(1 / weights.shape[1], color="grey", linestyle=":", label="uniform")
    ax.set(ylabel="Attention weight (mean ± SD over cases)", xlabel="Input", title=title)
    ax.legend(fontsize=8)
    return fig
