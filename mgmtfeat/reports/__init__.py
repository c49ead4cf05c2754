"""Step 9, every table and figure of the results folders; no fitting here.

:mod:`~mgmtfeat.reports.tables` formats tables ('mean ± SEM' cells, Markdown);
:mod:`~mgmtfeat.reports.figures` draws every figure and saves it.
"""

from mgmtfeat.reports.figures import (plot_attention, plot_attention_examples, plot_auc_bars, plot_ccc,
                                      plot_decision_curves, plot_gain, plot_method_aucs, plot_modalities,
                                      plot_paired, plot_roc, save_figure)
from mgmtfeat.reports.tables import (INPUT_LABELS, TABLE_METRICS, cells_to_markdown, markdown_table, metric_cells,
                                     plus_minus, summary_table)

__all__ = ["INPUT_LABELS", "TABLE_METRICS", "cells_to_markdown", "markdown_table", "metric_cells", "plus_minus",
           "summary_table", "plot_attention", "plot_attention_examples", "plot_auc_bars", "plot_ccc",
           "plot_decision_curves", "plot_gain", "plot_method_aucs", "plot_modalities", "plot_paired", "plot_roc",
           "save_figure"]
