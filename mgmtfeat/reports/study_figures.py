"""Figures of the extended cross-validation study: confusion matrix, calibration, held-out stability,
site comparison and subgroups. Each function takes the table written beside it and returns a figure
for :func:`mgmtfeat.reports.save_figure`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from mgmtfeat.reports.figures import new_figure

__all__ = ["plot_confusion", "plot_calibration", "plot_stability", "plot_site_comparison", "plot_subgroups",
           "plot_predictive_index"]


def text_colour(rgba) -> str:
    """``"white"`` or ``"black"``, whichever contrasts more with the colour ``rgba`` (WCAG relative luminance)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "white" if (1.05 / (luminance + 0.05)) > ((luminance + 0.05) / 0.05) else "black"


def plot_confusion(confusion: pd.DataFrame, classes, title: str = "Out-of-fold confusion matrix",
                   display: Mapping[str, str] | None = None):
    """One heat map per model of the count per repeat (the mean over repeats when there are several).

    ``confusion`` has columns ``model``, ``repeat``, ``true``, ``predicted``, ``count`` (class names);
    ``display`` maps a class name to its label on the axes (e.g. ``"1"`` -> ``"methylated (1)"``).
    Each cell's text is white or black by the luminance of its own colour in the colour map.
    """
    import matplotlib

    models = list(dict.fromkeys(confusion["model"]))
    fig, axes = new_figure(4.6 * len(models), 4.2, ncols=len(models))
    names = [str(c) for c in classes]
    shown = [str((display or {}).get(n, n)) for n in names]
    repeats = confusion["repeat"].nunique()
    # each repeat counts every case once, so the mean over repeats is a mean count per repeat
    what = "count of cases" if repeats == 1 else f"mean count over {repeats} repeats"
    cmap = matplotlib.colormaps["Blues"]
    for ax, model in zip(np.atleast_2d(axes)[0], models):  # one model: new_figure returns a single Axes
        part = confusion[confusion["model"] == model]
        mean = part.groupby(["true", "predicted"])["count"].mean()
        matrix = np.array([[mean.get((t, p), 0.0) for p in names] for t in names])
        image = ax.imshow(matrix, cmap=cmap)
        integer = np.allclose(matrix, np.round(matrix))  # one repeat, or every repeat alike
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.0f}" if integer else f"{value:.1f}", ha="center", va="center", fontsize=9,
                    color=text_colour(cmap(image.norm(value))))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(what, fontsize=8)
        ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=shown, yticklabels=shown,
               xlabel="predicted class", ylabel="true class", title=f"{model}\n{title}\n({what})")
        ax.tick_params(axis="x", labelrotation=20)
    return fig


def plot_calibration(curves: Mapping[str, pd.DataFrame], brier: Mapping[str, float],
                     title: str = "Calibration of out-of-fold probabilities"):
    """Reliability curve of each model (``mean_predicted``, ``fraction_positive``), Brier score in the legend."""
    fig, ax = new_figure()
    for model, table in curves.items():
        ax.plot(table["mean_predicted"], table["fraction_positive"], marker="o",
                label=f"{model} (Brier {brier[model]:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.set(xlabel="mean predicted probability", ylabel="fraction positive", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_stability(table: pd.DataFrame, title: str = "Held-out AUC against ensemble size"):
    """Mean ± SD of the test AUC over random member subsets; ``table``: model, size, auc_mean, auc_sd."""
    fig, ax = new_figure()
    for model, part in table.groupby("model", sort=False):
        ax.errorbar(part["size"], part["auc_mean"], yerr=part["auc_sd"].fillna(0), marker="o", capsize=3, label=model)
    ax.set(xlabel="fold models in the ensemble", ylabel="test AUC (mean ± SD over subsets)", title=title)
    ax.set_xticks(sorted(table["size"].unique()))
    ax.legend(fontsize=8)
    return fig


def plot_site_comparison(table: pd.DataFrame, title: str = "Co-site vs separate-site cross-validation"):
    """Bars of AUC mean ± SD per model and scheme; ``table``: model, scheme, auc_mean, auc_sd."""
    fig, ax = new_figure()
    models = list(dict.fromkeys(table["model"]))
    schemes = list(dict.fromkeys(table["scheme"]))
    width = 0.8 / len(schemes)
    for s, scheme in enumerate(schemes):
        part = table[table["scheme"] == scheme].set_index("model").reindex(models)
        ax.bar(np.arange(len(models)) + s * width, part["auc_mean"], width, yerr=part["auc_sd"].fillna(0),
               capsize=3, label=scheme)
    ax.axhline(0.5, color="grey", linestyle=":")
    ax.set(xticks=np.arange(len(models)) + width * (len(schemes) - 1) / 2, xticklabels=models, ylabel="AUC",
           ylim=(0, 1), title=title)
    # below the axes, so it covers no bar or error bar whatever their heights
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(schemes), frameon=False)
    return fig


def plot_subgroups(table: pd.DataFrame, metric: str = "auc", title: str = "AUC by subgroup (95 % CI)"):
    """Forest plot of ``metric`` per (model, covariate, subgroup) with its interval and count."""
    rows = table[table["metric"] == metric].reset_index(drop=True)
    fig, ax = new_figure(6.5, max(2.5, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    ax.errorbar(rows["estimate"], y, xerr=[(rows["estimate"] - rows["low"]).clip(lower=0),
                                           (rows["high"] - rows["estimate"]).clip(lower=0)], fmt="o", capsize=3)
    # n is a count of cases; a mean over repeats of equal counts must not show as 20.0
    labels = [f"{r.model}: {r.covariate} {r.subgroup} (n={int(round(r.n))})" for r in rows.itertuples()]
    ax.set(yticks=y, yticklabels=labels, xlabel=metric.upper() if metric == "auc" else metric, title=title)
    ax.axvline(0.5, color="grey", linestyle=":")
    return fig


def plot_predictive_index(predictions: pd.DataFrame, classes, title: str = "predictive index, repeat 0"):
    """Each patient's predictive index by true class (repeat 0, one panel per model), with the fold cutoffs.

    ``predictions`` has columns ``model``, ``repeat``, ``label`` (0/1), ``index`` and ``cutoff``.
    """
    models = list(dict.fromkeys(predictions["model"]))
    fig, axes = new_figure(4.2 * len(models), 4.0, ncols=len(models))
    rng = np.random.default_rng(0)  # horizontal jitter only, so overlapping patients stay visible
    for ax, model in zip(np.atleast_1d(axes).ravel(), models):
        part = predictions[(predictions["model"] == model) & (predictions["repeat"] == predictions["repeat"].min())]
        for code, name in enumerate(classes):
            values = part.loc[part["label"] == code, "index"]
            ax.scatter(code + rng.uniform(-0.15, 0.15, len(values)), values, s=14, alpha=0.7, label=str(name))
        cutoffs = part["cutoff"].unique()
        for cutoff in cutoffs:
            ax.axhline(cutoff, color="grey", linestyle=":", linewidth=1)
        ax.set(xticks=range(len(classes)), xticklabels=[str(c) for c in classes], ylim=(-0.05, 1.05),
               ylabel="fraction of slices called positive")
        ax.set_title(f"{model}: {title}\nfold cutoffs (dotted): {', '.join(f'{c:.2f}' for c in sorted(cutoffs))}",
                     fontsize=9)
    return fig
