"""``python -m mgmtfeat.fit``: the same command as ``mgmtfeat fit`` (:mod:`mgmtfeat.cli.fit`)."""

import sys

from mgmtfeat.cli.fit import main

if __name__ == "__main__":
    sys.exit(main())
