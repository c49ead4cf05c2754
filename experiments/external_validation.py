"""External validation: train on one cohort's store (--features) and test on another's
(--test-features); test cases also in the training cohort (same id or brats_id) are dropped.

Example::

    python experiments/external_validation.py --out results/external_validation --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, external_validation


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/external_validation.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="snn", help="classifier (an SNN for attention): snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--net", default=None, help="net whose features are used (default: the first in the store)")
    parser.add_argument("--test-features", default=None, metavar="DIR", help="feature store of the external test cohort (required)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(external_validation, args, test_features=args.test_features, model=args.model, net=args.net)


if __name__ == "__main__":
    sys.exit(main())
