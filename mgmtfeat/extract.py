"""``python -m mgmtfeat.extract``: the same command as ``mgmtfeat extract`` (:mod:`mgmtfeat.cli.extract`)."""

import sys

from mgmtfeat.cli.extract import main

if __name__ == "__main__":
    sys.exit(main())
