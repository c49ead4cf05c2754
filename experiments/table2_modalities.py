"""Table 2 of the paper: each input (FLAIR, T1, T1wCE, T2, delta-T1) alone, each left out
(missingness), and all inputs, with the Pearson r between single-input and left-out AUCs (paper: -0.90).

Example::

    python experiments/table2_modalities.py --out results/table2_modalities --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, modalities


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/table2_modalities.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="snn", help="classifier (an SNN for attention): snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--net", default=None, help="net whose features are used (default: the first in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(modalities, args, model=args.model, net=args.net)


if __name__ == "__main__":
    sys.exit(main())
