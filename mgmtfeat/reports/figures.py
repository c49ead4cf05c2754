"""Every figure of the results folders: ROC, decision curves, attention and the experiments' plots.

Functions take finished tables and return a matplotlib figure; :func:`save_figure` writes it.
matplotlib is imported inside the functions (Agg backend), so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mgmtfeat.reports.tables import INPUT_LABELS

__all__ = ["new_figure", "save_figure", "plot_roc", "plot_decision_curves", "plot_attention", "plot_attention_examples",
           "plot_method_aucs", "plot_modalities", "plot_auc_bars", "plot_ccc", "plot_gain", "plot_paired"]


def new_figure(width: float = 5.5, height: float = 4.5, ncols: int = 1):
    """A new matplotlib figure, on the Agg backend: ``(fig, ax)``, or ``(fig, axes)`` with axes of shape (1, ncols)
    when ``ncols > 1``; sizes in inches."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), squeeze=ncols == 1)


def _wrap(text, fontsize: float, width_in: float) -> str:
    import textwrap

    chars = max(30, int(width_in * 72 / (fontsize * 0.55)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def save_figure(fig, path: str | Path) -> Path:
    """Save a figure as PNG (150 dpi) and close it.

    Long titles (store labels can be long) are first wrapped to the width of their axes.
    """
    import matplotlib.pyplot as plt

    width_in = fig.get_figwidth()
    for ax in fig.axes:
        if ax.title.get_text():
            ax.title.set_text(_wrap(ax.title.get_text(), ax.title.get_fontsize(), width_in * ax.get_position().width))
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        suptitle.set_text(_wrap(suptitle.get_text(), suptitle.get_fontsize(), width_in))
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

    fig, ax = new_figure()
    for model, part in predictions.groupby("model", sort=False):
        fpr, tpr, _ = roc_curve(part["label"], part["probability"])
        ax.plot(fpr, tpr, label=f"{model} (pooled AUC {roc_auc_score(part['label'], part['probability']):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="False positive rate (1 − specificity)", ylabel="True positive rate (sensitivity)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_decision_curves(curves: Mapping[str, pd.DataFrame], title: str = "Decision curve analysis"):
    """Net benefit against threshold probability; ``curves`` maps a model to ``net_benefit`` output."""
    fig, ax = new_figure()
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
    fig, ax = new_figure(5.5, 3.8)
    ax.bar(weights.columns, weights.mean(), yerr=weights.std(), capsize=4, color="tab:blue")
    ax.axhline(1 / weights.shape[1], color="grey", linestyle=":", label="uniform")
    ax.set(ylabel="Attention weight (mean ± SD over cases)", xlabel="Input", title=title)
    ax.legend(fontsize=8)
    return fig


def plot_attention_examples(examples: pd.DataFrame, names: Sequence[str], title: str):
    """One bar chart per example case (columns ``case_id``, ``label``, ``probability`` and ``names``)."""
    fig, axes = new_figure(4.0 * len(examples), 3.8, ncols=len(examples))
    for ax, (_, row) in zip(axes[0], examples.iterrows()):
        values = row[list(names)].astype(float).to_numpy()
        ax.bar(names, values, color="tab:green")
        ax.axhline(1 / len(names), color="grey", linestyle=":", label="uniform")
        status = "methylated" if row.label == 1 else "unmethylated"
        ax.set_title(f"{row.case_id} ({status})\nP(methylated) = {row.probability:.2f}", fontsize=8)
        ax.set(xlabel="Input", ylabel="Attention weight")
        ax.set_ylim(0, max(0.5, max(values) * 1.15))
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def plot_method_aucs(table: pd.DataFrame, title: str):
    """Horizontal AUC bars of Table 1: this run's models in blue, reported values in grey."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = new_figure(7.0, 4.8)
    ours = table["source"] == "this run"
    colors = np.where(ours, "tab:blue", "lightgrey")
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["auc_mean"], xerr=table["auc_sem"].fillna(0), color=colors, capsize=3,
            edgecolor=np.where(ours, "tab:blue", "grey"))
    ax.set_yticks(y, table["method"])
    ax.axvline(0.5, color="black", linestyle=":", linewidth=1)
    low = max(0.0, float(np.nanmin(table["auc_mean"] - table["auc_sem"].fillna(0))) - 0.05)
    ax.set_xlim(min(low, 0.45), 1.0 if table["auc_mean"].max() > 0.85 else 0.8)
    handles = [Patch(color="tab:blue", label="this run (mean ± SEM over folds)"),
               Patch(facecolor="lightgrey", edgecolor="grey", label="reported, not reproduced (± as reported)"),
               Line2D([], [], color="black", linestyle=":", label="chance (AUC 0.5)")]
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.set(xlabel="AUC (area under the ROC curve)", title=title)
    ax.title.set_fontsize(9)
    return fig


def plot_modalities(table: pd.DataFrame, modalities: Sequence[str], r: float, title: str,
                    paper_r: float | None = None):
    """Table 2: AUC of each input alone and left out (bars), and one against the other (scatter)."""
    fig, axes = new_figure(10.0, 4.5, ncols=2)
    left, right = axes[0]
    mods = list(modalities)
    single = table[table.setting == "single"].set_index("input")
    out = table[table.setting == "left out"].set_index("input")
    x = np.arange(len(mods))
    left.bar(x - 0.2, single.loc[mods, "auc_mean"], 0.4, yerr=single.loc[mods, "auc_sem"], capsize=3,
             label="this input alone")
    left.bar(x + 0.2, out.loc[mods, "auc_mean"], 0.4, yerr=out.loc[mods, "auc_sem"], capsize=3,
             label="this input left out")
    everything = table[table.setting == "all"].iloc[0]
    left.axhline(everything["auc_mean"], color="black", linestyle="--", linewidth=1, label="all inputs")
    left.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
    left.set_xticks(x, [INPUT_LABELS.get(m, m) for m in mods])
    low = float(min(single["auc_mean"].min(), out["auc_mean"].min()))
    left.set_ylim(min(0.45, low - 0.05), max(0.75, float(table["auc_mean"].max()) + 0.05))
    left.set(xlabel="Input", ylabel="AUC (mean ± SEM over folds)")
    left.legend(fontsize=8)
    right.scatter(single.loc[mods, "auc_mean"], out.loc[mods, "auc_mean"], color="tab:red")
    for m in mods:
        right.annotate(INPUT_LABELS.get(m, m), (single.loc[m, "auc_mean"], out.loc[m, "auc_mean"]), fontsize=8,
                       xytext=(4, 4), textcoords="offset points")
    if len(mods) >= 2:
        slope, icpt = np.polyfit(single.loc[mods, "auc_mean"], out.loc[mods, "auc_mean"], 1)
        xs = np.linspace(single["auc_mean"].min(), single["auc_mean"].max(), 10)
        paper = "" if paper_r is None else f" (paper {paper_r:.2f})"
        right.plot(xs, slope * xs + icpt, color="grey", linestyle="--", label=f"least squares, r = {r:.2f}{paper}")
        right.legend(fontsize=8)
    right.set(xlabel="AUC with this input alone", ylabel="AUC with this input left out")
    fig.suptitle(title, fontsize=9)
    return fig


def plot_auc_bars(names, table: pd.DataFrame, xlabel: str, title: str):
    """AUC bars (mean ± SEM) of each row of ``table``, labelled by ``names`` (Tables 3 and 4)."""
    fig, ax = new_figure(max(5.0, 0.8 * len(table) + 2), 4.5)
    x = np.arange(len(table))
    ax.bar(x, table["auc_mean"], yerr=table["auc_sem"], capsize=3, color="tab:blue", label="mean ± SEM over folds")
    ax.axhline(0.5, color="grey", linestyle=":", label="chance")
    ax.set_xticks(x, list(names), rotation=30 if len(table) > 4 else 0, ha="right" if len(table) > 4 else "center")
    ax.set_ylim(min(0.4, float(table["auc_mean"].min()) - 0.05), max(0.8, float(table["auc_mean"].max()) + 0.08))
    ax.set(xlabel=xlabel, ylabel="AUC")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def plot_ccc(ccc: pd.DataFrame, nets: Sequence[str], title: str):
    """Matrix of the mean feature CCC between nets (rows of ``ccc``: ``net_a``, ``net_b``, ``ccc_mean``)."""
    matrix = pd.DataFrame(np.eye(len(nets)), index=nets, columns=nets)
    for r in ccc.itertuples():
        matrix.loc[r.net_a, r.net_b] = matrix.loc[r.net_b, r.net_a] = r.ccc_mean
    fig, ax = new_figure(5.5, 4.5)
    image = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="coolwarm")
    for i in range(len(nets)):
        for j in range(len(nets)):
            ax.text(j, i, f"{matrix.iat[i, j]:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(nets)), nets)
    ax.set_yticks(range(len(nets)), nets)
    fig.colorbar(image, ax=ax, label="mean Lin's CCC over features (unitless)")
    ax.set(xlabel="Net", ylabel="Net")
    ax.set_title(title, fontsize=9)
    return fig


def plot_gain(fused: pd.DataFrame, r: float, title: str):
    """Fusion gain against the mean CCC of the fused nets, one point per combination."""
    fig, ax = new_figure(5.5, 4.5)
    ax.scatter(fused["mean_ccc"], fused["gain"], color="tab:purple", label="net combination")
    for row in fused.itertuples():
        ax.annotate(row.nets, (row.mean_ccc, row.gain), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="grey", linestyle=":", linewidth=1, label="no gain")
    ax.set(xlabel="Mean Lin's CCC between the fused nets' features", ylabel="AUC gain over the best single net")
    ax.set_title(title + (f"\nPearson r = {r:.2f}" if np.isfinite(r) else ""), fontsize=9)
    ax.legend(fontsize=8)
    return fig


def plot_paired(with_: pd.Series, without: pd.Series, sem_with: float, sem_without: float, p: float, title: str,
                labels: tuple[str, str] = ("without delta-T1", "with delta-T1"), test: str = "paired test"):
    """AUC per fold without and with an input, paired by lines, with mean ± SEM and the P of ``test``."""
    fig, ax = new_figure(5.0, 4.5)
    for w, o in zip(with_, without):
        ax.plot([0, 1], [o, w], color="grey", alpha=0.5, linewidth=0.8)
    ax.scatter(np.zeros(len(without)), without, color="tab:orange", label=f"{labels[0]} (one fold)", zorder=3)
    ax.scatter(np.ones(len(with_)), with_, color="tab:blue", label=f"{labels[1]} (same fold)", zorder=3)
    ax.errorbar([0, 1], [without.mean(), with_.mean()], yerr=[sem_without, sem_with], color="black",
                marker="_", markersize=20, capsize=5, linestyle="none", label="mean ± SEM", zorder=4)
    ax.set_xticks([0, 1], list(labels))
    ax.set_xlim(-0.5, 1.5)
    ax.set(ylabel="AUC per fold")
    ax.set_title(f"{title}\n{test} P = {p:.3g}", fontsize=8)
    ax.legend(fontsize=7)
    return fig
