"""``mgmtfeat predict``: apply a model folder written by ``mgmtfeat fit`` to the cases of a feature store,
or (``--data``) to the MRI of a dataset folder, extracted as the model's training features were."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from mgmtfeat.cli.options import add_device, add_features, add_force, add_jobs, add_out
from mgmtfeat.cli.run import command_parser, print_failures, run_command

NAME = "predict"
SCALES = ("none", "cohort-minmax")  # mgmtfeat.bundle.scaling.SCALES, here so that --help imports nothing heavy


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        NAME,
        description="Predict the cases of a feature store with a model folder: OUT/predictions.csv (case_id, "
        "prob_<class> per class, predicted, and label when labels are given) and, with labels, OUT/metrics.csv "
        "and metrics.md with bootstrap 95 % CIs. Features made otherwise than the model's training features "
        "(net, weights, clip settings) and model folders of another mgmtfeat version are refused. With --data instead "
        "of --features, the cases' MRI go to predictions in one step: clips and features are made exactly as the "
        "model's training features were (nets, weights, net input, dtype, clip settings, read from the model "
        "folder), then predicted; seconds per case and peak memory are printed. A slice model (fitted on per-slice "
        "embeddings) gives each patient's predictive index, the share of fold models calling it positive (votes) and "
        "the majority call.",
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="model folder written by `mgmtfeat fit`")
    add_features(parser, help="feature store of the cases to predict; with --data, the store to extract into (kept, "
                 "resumable; default: a temporary store)")
    parser.add_argument("--data", default=None, metavar="DATASET",
                        help="dataset folder of the cases' MRI: extract them as the model's features were, then predict")
    add_out(parser, required=True, help="output folder")
    parser.add_argument("--labels", default=None, metavar="CSV|store",
                        help="labels for metrics: a label CSV, or `store` for the store's own labels; as in fit and cv, "
                        "they select the cases: predictions.csv then holds the labelled cases only")
    parser.add_argument("--label-column", default=None, metavar="NAME", help="label column of --labels")
    parser.add_argument("--id-column", default=None, metavar="NAME", help="id column of --labels")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="binary decision threshold on the probability of the positive class")
    parser.add_argument("--ensemble", choices=["mean", "vote"], default="mean",
                        help="fold models: mean probability, or the share of models voting for each class")
    parser.add_argument("--scale", choices=SCALES, default="none",
                        help="cohort-minmax: min-max scale each feature over the cases predicted, as the paper's "
                        "published features were over the authors' cohort (transductive: a case's prediction depends "
                        "on the other cases; meaningless for one patient); recorded in OUT/provenance.json")
    add_force(parser, help="replace existing predictions in --out")
    mri = parser.add_argument_group("with --data (from MRI)")
    mri.add_argument("--weights", action="append", default=None, metavar="NET=PATH",
                     help="weights file of a net whose weights are not at its default source (checked against the "
                     "sha256 in model.json)")
    mri.add_argument("--radiomics-params", default=None, metavar="FILE",
                     help="the pyradiomics params file of a radiomics model made with another file than the shipped one")
    mri.add_argument("--box-csv", default=None, help="the box CSV the model's clips were placed with, if any")
    mri.add_argument("--exclude", nargs="+", default=[], metavar="ID", help="case ids to leave out")
    add_device(mri)
    add_jobs(mri, help="cases extracted in parallel processes")
    mri.add_argument("--saliency", nargs="?", const="t1ce", default=None, metavar="MODALITY",
                     help="also write occlusion saliency maps of every predicted case (default modality t1ce) "
                     "into OUT/saliency (costly: about a minute per case with I3D on two cores)")
    return parser


@dataclass(frozen=True)
class PredictOptions:
    """What ``predict`` is asked to do, checked across options before any work.

    Attributes
    ----------
    features, data : str or None
        The store to predict, or the dataset folder whose MRI are extracted here (one of them at least).
    threshold : float
        Binary decision threshold, in [0, 1].
    jobs : int
        Cases extracted in parallel (``data`` only), at least 1.
    weights, radiomics_params, box_csv, exclude, saliency
        The options of ``data`` only; each refused without it, ``saliency`` also with ``weights``.
    """

    features: str | None = None
    data: str | None = None
    threshold: float = 0.5
    jobs: int = 1
    weights: tuple[str, ...] | None = None
    radiomics_params: str | None = None
    box_csv: str | None = None
    exclude: tuple[str, ...] = ()
    saliency: str | None = None

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--threshold {self.threshold}: a probability threshold lies in [0, 1]")
        if self.data is None:
            if self.features is None:
                raise ValueError("give --features STORE (extracted features) or --data DATASET (MRI, extracted here)")
            given = [o for o, v in (("--weights", self.weights), ("--radiomics-params", self.radiomics_params),
                                    ("--box-csv", self.box_csv), ("--exclude", self.exclude),
                                    ("--saliency", self.saliency)) if v]
            if given:
                raise ValueError(f"{', '.join(given)} apply to --data only (the MRI extracted here); drop them or "
                                 "add --data")
        if self.jobs < 1:
            raise ValueError(f"--jobs must be at least 1 (got {self.jobs})")
        if self.saliency and self.weights:
            raise ValueError("--saliency rebuilds the nets from their own weights source (or random weights), not "
                             "from --weights files; run without --saliency, then `mgmtfeat saliency` where the weights "
                             "are at their default source")


def _check(args: argparse.Namespace) -> PredictOptions:
    """The cross-option rules of :class:`PredictOptions`, before any work."""
    return PredictOptions(features=args.features, data=args.data, threshold=args.threshold, jobs=args.jobs,
                          weights=tuple(args.weights) if args.weights else None,
                          radiomics_params=args.radiomics_params, box_csv=args.box_csv, exclude=tuple(args.exclude),
                          saliency=args.saliency)


def _from_mri(args: argparse.Namespace, settings, record):
    """``predict --data``: extraction as the model's ``record`` says, prediction, timing (and saliency maps)."""
    from mgmtfeat.bundle.from_mri import MriSettings, predict_from_mri
    from mgmtfeat.extraction.nets import parse_weights

    record_nets = record.nets
    if args.saliency:  # a request saliency cannot serve fails before the extraction, not after it
        from mgmtfeat.saliency.run import check_modality, positive_column

        if "radiomics" in record_nets:
            raise ValueError("--saliency occludes the clips a video net sees; a model on radiomics features has none")
        check_modality(record, args.saliency)
        positive_column(record)
    weights = {k: v for k, v in parse_weights(args.weights, record_nets).items() if v}
    mri = MriSettings(data=args.data, features=args.features, weights=weights,
                      radiomics_params=args.radiomics_params, boxes=args.box_csv, exclude=args.exclude,
                      device=args.device, threads=args.threads, jobs=args.jobs)
    frame, metrics, report = predict_from_mri(settings, mri, progress=not args.quiet)
    print_failures(report.failed)
    where = "a temporary store, removed" if report.temporary else f"store {report.store}"
    print(f"{len(frame)} cases predicted from MRI ({where}); {report.seconds_per_case:.2f} s per case "
          f"(extraction and prediction, {report.seconds:.1f} s in all), peak memory {report.peak_mib:.0f} MiB")
    if args.saliency:
        from mgmtfeat.saliency import OcclusionSettings, run_saliency

        run_saliency(args.model_dir, args.data, list(frame["case_id"]), Path(args.out) / "saliency", args.saliency,
                     OcclusionSettings(), box_csv=args.box_csv, force=args.force, threads=args.threads)
        print(f"saliency maps -> {Path(args.out) / 'saliency'}")
    return frame, metrics, report


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat predict``; returns the exit status (2 for bad input, 1 when a case of --data failed)."""

    def work(args):
        from mgmtfeat.bundle import PredictSettings, predict_bundle
        from mgmtfeat.bundle.record import read_record
        from mgmtfeat.bundle.slices import predict_slice_bundle

        _check(args)
        record = read_record(args.model_dir)
        slices = record.is_slices
        if slices and args.scale != "none":
            raise ValueError("--scale applies to clip models; a slice model predicts per-slice embeddings as stored")
        settings = PredictSettings(
            model_dir=args.model_dir, features=args.features, out=args.out, labels=args.labels,
            label_column=args.label_column, id_column=args.id_column, threshold=args.threshold,
            ensemble=args.ensemble, force=args.force, scale=args.scale)
        failed = []
        if args.data is not None:
            frame, metrics, report = _from_mri(args, settings, record)
            failed = report.failed
        else:
            frame, metrics = (predict_slice_bundle if slices else predict_bundle)(settings)
            print(f"{len(frame)} cases predicted -> {Path(args.out) / 'predictions.csv'}")
        if metrics is not None:
            for row in metrics.itertuples():
                print(f"{row.metric:24s} {row.estimate:.3f} (95% CI {row.low:.3f}-{row.high:.3f})")
        return 1 if failed else 0

    return run_command(NAME, _parser(), argv, work, None, lambda args: Path(args.out) / "settings.yaml")


if __name__ == "__main__":
    sys.exit(main())
