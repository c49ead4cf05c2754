"""``python -m mgmtfeat.cv``: the same command as ``mgmtfeat cv`` (:mod:`mgmtfeat.cli.cv`)."""

import sys

from mgmtfeat.cli.cv import main

if __name__ == "__main__":
    sys.exit(main())
