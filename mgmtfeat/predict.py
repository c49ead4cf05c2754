"""``python -m mgmtfeat.predict``: the same command as ``mgmtfeat predict`` (:mod:`mgmtfeat.cli.predict`)."""

import sys

from mgmtfeat.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
