"""Table 1 of the paper: the SNN against the MLP baseline and classical classifiers (AUC,
precision, recall, accuracy as mean ± SEM over folds), with the AUCs reported in the literature beside ours.

Example::

    python experiments/table1_methods.py --out results/table1_methods --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, split_csv, DEFAULT_METHODS, method_comparison


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/table1_methods.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser, models=",".join(DEFAULT_METHODS))
    parser.add_argument("--net", default=None, help="net whose features are used (default: the first in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(method_comparison, args, models=split_csv(args.models), net=args.net)


if __name__ == "__main__":
    sys.exit(main())
