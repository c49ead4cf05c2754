"""Delta-T1 ablation: the classifier with and without the delta-T1 input, paired per fold,
with a Wilcoxon signed-rank P value (paper: P = 0.03 for AUC).

Example::

    python experiments/delta_t1.py --out results/delta_t1 --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, delta_t1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/delta_t1.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="snn", help="classifier: snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--net", default=None, help="net whose features are used (default: the first in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(delta_t1, args, model=args.model, net=args.net)


if __name__ == "__main__":
    sys.exit(main())
