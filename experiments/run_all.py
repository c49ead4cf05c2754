"""Run the paper's experiments in one go and print the wall time of each.

Tables 1 and 2, delta-T1, decision curves and attention run on any store with the five inputs
(default: the paper's published ViViT features); Tables 3 and 4 need a store with two or more nets,
external validation a second cohort's store (--external-features). Experiments whose inputs are
missing are skipped with the reason. Every experiment uses the store's one saved fold assignment,
and a configuration shared by several experiments (e.g. the SNN on all inputs) is fitted once.
Results: OUT/NAME/ per experiment, and OUT/RESULTS.md with every table and the timings.

Example::

    python experiments/run_all.py --out results/paper --repeats 4
"""

import argparse
import sys
import time
from pathlib import Path

from mgmtfeat.experiments import (DEFAULT_METHODS, EXPERIMENTS, ExperimentError, add_common_arguments,
                                  settings_from_args, split_csv)
from mgmtfeat.store import StoreError, atomic_write_text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python experiments/run_all.py", description=__doc__.split("Example")[0].strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(parser, models=",".join(DEFAULT_METHODS))
    parser.add_argument("--external-features", default=None, metavar="DIR",
                        help="feature store of a second cohort, the test set of external validation")
    parser.add_argument("--only", default=",".join(EXPERIMENTS), type=split_csv, metavar="NAME[,NAME...]",
                        help=f"experiments to run, from: {', '.join(EXPERIMENTS)}")
    return parser


def _kwargs(name: str, args) -> dict:
    if name == "table1_methods":
        return {"models": split_csv(args.models)}
    if name == "external_validation":
        return {"test_features": args.external_features}
    return {}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    unknown = [n for n in args.only if n not in EXPERIMENTS]
    if unknown:
        _parser().error(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; choose another --out or pass --force to replace it.", file=sys.stderr)
        return 2
    timings, pages = [], []
    start = time.perf_counter()
    for name in args.only:
        try:
            settings = settings_from_args(args, out=str(out / name))
            began = time.perf_counter()
            EXPERIMENTS[name](settings, **_kwargs(name, args))
        except ExperimentError as err:
            print(f"{name:22s} skipped: {err}", flush=True)
            timings.append((name, None, f"skipped: {err}"))
            continue
        except (ValueError, FileNotFoundError, FileExistsError, StoreError) as err:
            print(f"error in {name}: {err}", file=sys.stderr)
            return 2
        seconds = time.perf_counter() - began
        print(f"{name:22s} {seconds:8.1f} s", flush=True)
        timings.append((name, seconds, ""))
        pages += [path.read_text() for path in sorted((out / name).glob("*.md"))]
    total = time.perf_counter() - start
    print(f"{'total':22s} {total:8.1f} s")
    rows = "\n".join(f"| {n} | {'' if s is None else f'{s:.1f}'} | {note} |" for n, s, note in timings)
    command = "python experiments/run_all.py " + " ".join(sys.argv[1:] if argv is None else argv)
    page = (f"# Results\n\nCommand: `{command}`\n\n| experiment | wall time (s) | note |\n|---|---|---|\n{rows}\n"
            f"| total | {total:.1f} | |\n\nWall times include only fits not already made by an earlier experiment "
            "of the run.\n\n" + "\n".join(pages))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "RESULTS.md", page)
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
