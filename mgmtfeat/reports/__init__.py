"""Step 8, every table and figure of the results folders; no fitting here."""

from mgmtfeat.reports.core import (markdown_table, plot_attention, plot_decision_curves, plot_roc, save_figure,
                                   summary_table)

__all__ = ["markdown_table", "plot_attention", "plot_decision_curves", "plot_roc", "save_figure", "summary_table"]
