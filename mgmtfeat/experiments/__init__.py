"""Step 9, studies: the cross-validation study of ``mgmtfeat cv`` and the paper's experiments, one per table."""

from mgmtfeat.experiments.core import *  # noqa: F401,F403
from mgmtfeat.experiments.core import __all__ as _core_all
from mgmtfeat.experiments.core import (DEFAULT_METHODS, add_common_arguments, clear_cache, run_cli,
                                       settings_from_args, split_csv)

__all__ = [*_core_all, "DEFAULT_METHODS", "add_common_arguments", "clear_cache", "run_cli", "settings_from_args",
           "split_csv"]
