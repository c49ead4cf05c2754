"""Table 3 of the paper: the same classifier on the features of each net in a store
(needs at least two nets: extract them with `python -m mgmtfeat.extract --net NET`).

Example::

    python experiments/table3_networks.py --out results/table3_networks --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, split_csv, networks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/table3_networks.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="snn", help="classifier (an SNN for attention): snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--nets", default=None, type=split_csv, metavar="NET[,NET...]", help="nets to compare (default: every net in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(networks, args, model=args.model, nets=args.nets)


if __name__ == "__main__":
    sys.exit(main())
