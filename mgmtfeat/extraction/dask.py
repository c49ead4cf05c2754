"""Former home of the Dask helpers, now in :mod:`mgmtfeat._parallel` (the one executor of every step).

Only re-exports, for callers not yet moved (``mgmtfeat.experiments.cv_study`` imports
``dask_client`` from here); import from :mod:`mgmtfeat._parallel` instead. Importing this module
does not import Dask.
"""

from mgmtfeat._parallel import SchedulerError, check_versions, dask_client, parse_scheduler

__all__ = ["SchedulerError", "check_versions", "dask_client", "parse_scheduler"]
