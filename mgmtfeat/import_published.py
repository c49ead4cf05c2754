"""``python -m mgmtfeat.import_published``: the paper's published ViViT features as a feature store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mgmtfeat.import_published",
        description="Fetch the two TFRecord files of ViViT features published with the paper (577 BraTS 2021 "
        "patients, five inputs, MGMT labels), verify their sha256 and CRCs, and write them into a feature "
        "store under net 'vivit' that `python -m mgmtfeat.cv --features` reads.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--source", default=None, metavar="DIR",
                        help="local folder holding both files (offline); default: the user cache, downloading when online")
    parser.add_argument("--out", default="features/published", metavar="DIR", help="feature store to write")
    parser.add_argument("--force", action="store_true", help="write into a store that already holds vivit features")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from mgmtfeat.store.published import NET, import_published
    from mgmtfeat.store import FeatureStore

    if FeatureStore(args.out).case_ids(NET) and not args.force:
        print(f"error: {args.out} already holds {NET} features; pass --force to re-import into it", file=sys.stderr)
        return 2
    try:
        store = import_published(Path(args.out), args.source)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = store.labels(NET)
    counts = table["label"].value_counts().to_dict()
    print(f"{len(table)} cases ({counts.get(0, 0)} unmethylated, {counts.get(1, 0)} methylated) in {store.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
