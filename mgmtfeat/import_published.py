"""``python -m mgmtfeat.import_published``: the same command as ``mgmtfeat import-published`` (:mod:`mgmtfeat.cli.import_published`)."""

import sys

from mgmtfeat.cli.import_published import main

if __name__ == "__main__":
    sys.exit(main())
