"""Decision curve analysis (paper Figure 4): net benefit of the SNN and the MLP against
threshold probability, with treat-all and treat-none, from out-of-fold probabilities.

Example::

    python experiments/decision_curves.py --out results/decision_curves --repeats 4
"""

import argparse
import sys

from mgmtfeat.experiments import add_common_arguments, run_cli, split_csv, decision_curves


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/decision_curves.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser, models="snn,mlp")
    parser.add_argument("--net", default=None, help="net whose features are used (default: the first in the store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(decision_curves, args, models=split_csv(args.models), net=args.net)


if __name__ == "__main__":
    sys.exit(main())
