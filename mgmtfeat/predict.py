"""``mgmtfeat predict``: apply a model folder written by ``mgmtfeat fit`` to the cases of a feature store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat._cli import command_parser, run_command

NAME = "predict"


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        NAME,
        description="Predict the cases of a feature store with a model folder: OUT/predictions.csv (case_id, "
        "prob_<class> per class, predicted, and label when labels are given) and, with labels, OUT/metrics.csv "
        "and metrics.md with bootstrap 95 % CIs. Features made otherwise than the model's training features "
        "(net, weights, clip settings) and model folders of another mgmtfeat version are refused. (Going from "
        "MRI to predictions in one step needs `mgmtfeat extract` first.) A slice model (fitted on per-slice "
        "embeddings) gives each patient's predictive index, the share of fold models calling it positive (votes) and "
        "the majority call.",
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="model folder written by `mgmtfeat fit`")
    parser.add_argument("--features", required=True, metavar="DIR", help="feature store of the cases to predict")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--labels", default=None, metavar="CSV|store",
                        help="labels for metrics: a label CSV, or `store` for the store's own labels; as in fit and cv, "
                        "they select the cases: predictions.csv then holds the labelled cases only")
    parser.add_argument("--label-column", default=None, metavar="NAME", help="label column of --labels")
    parser.add_argument("--id-column", default=None, metavar="NAME", help="id column of --labels")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="binary decision threshold on the probability of the positive class")
    parser.add_argument("--ensemble", choices=["mean", "vote"], default="mean",
                        help="fold models: mean probability, or the share of models voting for each class")
    parser.add_argument("--force", action="store_true", help="replace existing predictions in --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat predict``; returns the exit status (2 for bad input)."""

    def work(args):
        from mgmtfeat.bundle import PredictSettings, predict_bundle
        from mgmtfeat.bundle.record import read_record
        from mgmtfeat.bundle.slices import predict_slice_bundle

        if not 0.0 <= args.threshold <= 1.0:
            raise ValueError(f"--threshold {args.threshold}: a probability threshold lies in [0, 1]")
        predictor = predict_slice_bundle if read_record(args.model_dir).get("pathway") == "slices" else predict_bundle
        frame, metrics = predictor(PredictSettings(
            model_dir=args.model_dir, features=args.features, out=args.out, labels=args.labels,
            label_column=args.label_column, id_column=args.id_column, threshold=args.threshold,
            ensemble=args.ensemble, force=args.force))
        print(f"{len(frame)} cases predicted -> {Path(args.out) / 'predictions.csv'}")
        if metrics is not None:
            for row in metrics.itertuples():
                print(f"{row.metric:24s} {row.estimate:.3f} (95% CI {row.low:.3f}-{row.high:.3f})")
        return 0

    return run_command(NAME, _parser(), argv, work, None, lambda args: Path(args.out) / "settings.yaml")


if __name__ == "__main__":
    sys.exit(main())
