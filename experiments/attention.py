"""Modality attention (paper Figures 5 and 3): the SNN's per-case attention weights over
its inputs, averaged over the out-of-fold cases, and two example cases.

Example::

    python experiments/attention.py --out results/attention --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, attention


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/attention.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="snn", help="classifier (an SNN for attention): snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--net", default=None, help="net whose features are used (default: the first in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(attention, args, model=args.model, net=args.net)


if __name__ == "__main__":
    sys.exit(main())
