"""Table 4 of the paper: every combination of two to four nets fused as branches of one
classifier, with Lin's CCC of the features between nets and the correlation of fusion gain with CCC.

Example::

    python experiments/table4_fusion.py --out results/table4_fusion --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, split_csv, fusion


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/table4_fusion.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="snn", help="classifier (an SNN for attention): snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--nets", default=None, type=split_csv, metavar="NET[,NET...]", help="nets to compare (default: every net in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(fusion, args, model=args.model, nets=args.nets)


if __name__ == "__main__":
    sys.exit(main())
