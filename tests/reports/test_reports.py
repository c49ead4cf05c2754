"""Tables and figures of the results folders (mgmtfeat.reports)."""

import numpy as np
import pandas as pd

from mgmtfeat.reports import cells_to_markdown, metric_cells, plot_auc_bars, plus_minus, save_figure


def test_plus_minus_cells_and_markdown():
    assert plus_minus(0.61349, 0.0091) == "0.613 ± 0.009"
    assert plus_minus(0.622, None) == "0.622" and plus_minus(0.622, np.nan) == "0.622"
    assert plus_minus(np.nan, 0.1) == "–" and plus_minus(0.5, 0.25, digits=1) == "0.5 ± 0.2"
    table = pd.DataFrame({"auc_mean": [0.7, 0.6], "auc_sem": [0.01, np.nan], "recall_mean": [0.5, np.nan],
                          "recall_sem": [0.02, np.nan]})
    cells = metric_cells(table, metrics=("auc", "recall"))
    assert cells.to_dict("list") == {"AUC": ["0.700 ± 0.010", "0.600"], "recall": ["0.500 ± 0.020", "–"]}
    md = cells_to_markdown(pd.DataFrame({"model": ["a", None], "AUC": ["0.700", "0.600"]}))
    assert md == "| model | AUC |\n|---|---|\n| a | 0.700 |\n|  | 0.600 |\n"


def test_save_figure_wraps_long_titles_and_writes_a_png(tmp_path):
    table = pd.DataFrame({"auc_mean": [0.7, 0.6], "auc_sem": [0.01, 0.02]})
    title = "Table 3: logistic on the features of each net " + "along storelabel " * 12
    fig = plot_auc_bars(["i3d", "vivit"], table, "Net", title)
    path = save_figure(fig, tmp_path / "bars.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrapped = fig.axes[0].get_title()
    assert "\n" in wrapped and wrapped.replace("\n", " ").split() == title.split()
