"""``python -m mgmtfeat.make_clips``: the same command as ``mgmtfeat make-clips`` (:mod:`mgmtfeat.cli.make_clips`)."""

import sys

from mgmtfeat.cli.make_clips import main

if __name__ == "__main__":
    sys.exit(main())
