"""``python -m mgmtfeat.synthetic``: the same command as ``mgmtfeat synthetic`` (:mod:`mgmtfeat.cli.synthetic`)."""

import sys

from mgmtfeat.cli.synthetic import main

if __name__ == "__main__":
    sys.exit(main())
