"""Tables of results folders: per-model summaries and Markdown, with the 'mean ± SEM' cells.

Nothing here fits a model or computes a statistic; the numbers come in as columns.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mgmtfeat import MODALITY_LABELS

__all__ = ["TABLE_METRICS", "INPUT_LABELS", "summary_table", "markdown_table", "plus_minus", "metric_cells",
           "cells_to_markdown"]

#: Metrics shown in the experiments' tables (F1 and fit time stay in their CSV files).
TABLE_METRICS = ("auc", "precision", "recall", "accuracy")
#: How each input is named in tables and figures.
INPUT_LABELS = MODALITY_LABELS


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


def plus_minus(mean, err, digits: int = 3) -> str:
    """``'0.613 ± 0.009'``; only the mean when ``err`` is None or NaN; ``'–'`` when the mean is."""
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "–"
    if err is None or (isinstance(err, float) and np.isnan(err)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {err:.{digits}f}"


def metric_cells(table: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS) -> pd.DataFrame:
    """Columns ``AUC``, ``precision`` ... as 'mean ± SEM' strings from ``METRIC_mean``/``METRIC_sem`` columns."""
    return pd.DataFrame({("AUC" if m == "auc" else m): [plus_minus(a, b)
                                                        for a, b in zip(table[f"{m}_mean"], table[f"{m}_sem"])]
                         for m in metrics}, index=table.index)


def cells_to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table of the (already formatted) cells of ``table``; missing cells are left empty."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    lines = [header, "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
