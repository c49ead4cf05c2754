"""``mgmtfeat extract``: Kinetics-400 features of every case of a dataset folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat._cli import (BOX_HELP, add_dataset_arguments, clip_settings, command_parser, exclusions, print_failures,
                           run_command)
from mgmtfeat._config import SETTINGS_FILE

NAME = "extract"


def _parser() -> argparse.ArgumentParser:
    from mgmtfeat.backbones import list_backbones

    parser = command_parser(
        NAME,
        description="Turn each case of a dataset folder (BraTS 2021, RSNA-MICCAI DICOM or UCSF-PDGM layout) into "
        "its five 150-frame clips (FLAIR, T1, T1wCE, T2, delta-T1) and run them through a Kinetics-400 video "
        "network; store the 400 output logits per clip in a feature store that `mgmtfeat cv "
        "--features` reads. Resumable: cases already in the store are skipped. Cases that fail are listed in "
        "STORE/NET/failures.csv and the run goes on; the exit status is 1 if any case failed.",
        epilog=BOX_HELP,
    )
    add_dataset_arguments(parser)
    parser.add_argument("--out", default="features/store", metavar="DIR",
                        help="feature store to write into; an existing store gets the new cases (resumes)")
    parser.add_argument("--net", default="i3d", metavar="NET",
                        help=f"backbone, from the registry: {', '.join(list_backbones(all_variants=True))}; or "
                        "'radiomics': the handcrafted baseline (pyradiomics features of the tumour per input, from "
                        "the volumes and the segmentation, no clips)")
    parser.add_argument("--radiomics-params", default=None, metavar="FILE",
                        help="--net radiomics: pyradiomics parameter YAML (default: the shipped params.yaml)")
    parser.add_argument("--radiomics-label", default=None, metavar="N[,N]",
                        help="--net radiomics: segmentation labels forming the mask, e.g. 1,4 (default: whole tumour)")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="weights file or folder; 'random' for random weights (labelled so in the store); "
                        "default: the net's own source (package file, Hugging Face cache, or download)")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                        help="compute precision; auto: bfloat16 only where the CPU computes it natively (AVX-512 BF16 "
                        "or AMX) and the net's measured bfloat16-vs-float32 CCC is >= 0.999, else float32; a resumed "
                        "store keeps the dtype it was made with")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases (by id)")
    parser.add_argument("--net-frames", type=int, default=None,
                        help="override the net's input frames (quick trials; recorded in the store's provenance)")
    parser.add_argument("--net-size", type=int, default=None,
                        help="override the net's input size in pixels (quick trials; recorded in provenance)")
    parser.add_argument("--force", action="store_true",
                        help="re-extract every case and replace the store's provenance for this net")
    parser.add_argument("--jobs", type=int, default=1,
                        help="cases extracted in parallel worker processes on this machine (each with cores/N threads)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run one Dask task per case: local:N starts N worker processes on this machine (each "
                        "with cores/N threads), tcp://HOST:PORT joins a running `dask scheduler` whose workers see "
                        "--data at the same absolute path; the store is written by this process "
                        "(needs `pip install 'mgmtfeat[dask]'`; default: in-process)")
    slices = parser.add_argument_group("slice pathway (2D networks, Shin et al.)")
    slices.add_argument("--pathway", choices=["clips", "slices"], default="clips",
                        help="clips: each input's 150-frame clip through a video network (default); slices: every "
                        "axial slice of the ROI as a three-channel image through an image network (resnet50, "
                        "i3d2d), one embedding per slice, for `mgmtfeat cv`'s predictive index")
    slices.add_argument("--channels", default="t1ce,t2,t2", metavar="M,M,M",
                        help="--pathway slices: the clips giving the three channels (default t1ce,t2,t2)")
    slices.add_argument("--slices", type=int, default=None, metavar="N",
                        help="--pathway slices: N consecutive slices centred on the ROI (default: every slice from "
                        "the tumour's first to its last; required with --box csv boxes)")
    return parser


def _slice_settings(args: argparse.Namespace):
    """The slice pathway's settings, or None for the clip pathway (slice options then refused)."""
    from mgmtfeat.clips.slices import SliceSettings

    if args.pathway == "clips":
        if args.slices is not None or args.channels != "t1ce,t2,t2":
            raise ValueError("--channels and --slices apply to --pathway slices only")
        return None
    if args.net == "radiomics":
        raise ValueError("--net radiomics describes the tumour volume, not slices; drop --pathway slices")
    return SliceSettings(channels=tuple(c.strip() for c in args.channels.split(",")), n_slices=args.slices)


def _settings(args: argparse.Namespace):
    from mgmtfeat.extraction.run import ExtractionSettings

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1 (got {args.limit})")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1 (got {args.jobs})")
    if args.scheduler:
        from mgmtfeat._parallel import parse_scheduler

        if args.jobs > 1:
            raise ValueError("--jobs and --scheduler both choose where cases run; give one of them")
        parse_scheduler(args.scheduler)  # SchedulerError is a ValueError
    if (args.radiomics_params or args.radiomics_label) and args.net != "radiomics":
        raise ValueError("--radiomics-params and --radiomics-label apply to --net radiomics only")
    labels = None
    if args.radiomics_label:
        try:
            labels = tuple(int(v) for v in args.radiomics_label.split(","))
        except ValueError:
            raise ValueError(f"--radiomics-label {args.radiomics_label!r}: give integers separated by commas, "
                             "e.g. 1,4") from None
    return ExtractionSettings(
        data=args.data, out=args.out, net=args.net, weights=args.weights, dtype=args.dtype, device=args.device,
        threads=args.threads, limit=args.limit, exclude=exclusions(args), labels=args.labels, boxes=args.box_csv,
        clip_settings=clip_settings(args), num_frames=args.net_frames, size=args.net_size, force=args.force,
        jobs=args.jobs, scheduler=args.scheduler, radiomics_params=args.radiomics_params, radiomics_labels=labels,
        slices=_slice_settings(args),
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat extract``; exit status 0, 1 when a case failed, 2 for bad input."""

    def work(args):
        from mgmtfeat.extraction.run import extract_features
        from mgmtfeat.extraction.slices import extract_slices

        settings = _settings(args)
        report = (extract_slices if settings.slices else extract_features)(settings, progress=not args.quiet)
        seconds = report.seconds
        timing = (f"; {seconds['total'] / len(report.done):.2f} s per case (forward {seconds['forward']:.1f} s, "
                  f"reading and clips {seconds['read_and_clip']:.1f} s)" if report.done else "")
        print(f"{len(report.done)} cases extracted, {len(report.skipped)} already in the store, "
              f"{len(report.failed)} failed{timing}")
        print_failures(report.failed)
        return 0 if report.ok else 1

    def dry_run(args):
        from mgmtfeat._plan import dataset_plan
        from mgmtfeat.extraction.run import select_cases
        from mgmtfeat.store import FeatureStore

        settings = _settings(args)
        store = FeatureStore(args.out)
        done = (lambda case_id: False) if args.force else (lambda case_id: store.has_case(args.net, case_id))
        print(dataset_plan(select_cases(settings), done, f"{args.out} ({args.net})", f"{args.net} features"))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: Path(args.out) / args.net / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
