"""``python -m mgmtfeat.export``: the same command as ``mgmtfeat export`` (:mod:`mgmtfeat.cli.export`)."""

import sys

from mgmtfeat.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
