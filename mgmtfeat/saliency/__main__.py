"""``python -m mgmtfeat.saliency``: the same command as ``mgmtfeat saliency`` (:mod:`mgmtfeat.cli.saliency`).

The one module of a step that imports the command layer (the layout test names this exemption).
"""

import sys

from mgmtfeat.cli.saliency import main

if __name__ == "__main__":
    sys.exit(main())
