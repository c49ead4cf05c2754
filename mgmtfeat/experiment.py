"""``python -m mgmtfeat.experiment``: the same command as ``mgmtfeat experiment`` (:mod:`mgmtfeat.cli.experiment`)."""

import sys

from mgmtfeat.cli.experiment import main

if __name__ == "__main__":
    sys.exit(main())
