"""``python -m mgmtfeat.extract``: Kinetics-400 features of every case of a dataset folder."""

from __future__ import annotations

import argparse
import sys

from mgmtfeat._cli import BOX_HELP, add_dataset_arguments, clip_settings, exclusions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mgmtfeat.extract",
        description="Turn each case of a dataset folder (BraTS 2021, RSNA-MICCAI DICOM or UCSF-PDGM layout) into "
        "its five 150-frame clips (FLAIR, T1, T1wCE, T2, delta-T1) and run them through a Kinetics-400 video "
        "network; store the 400 output logits per clip in a feature store that `python -m mgmtfeat.cv "
        "--features` reads. Resumable: cases already in the store are skipped. Cases that fail are listed in "
        "STORE/NET/failures.csv and the run goes on; the exit status is 1 if any case failed.",
        epilog=BOX_HELP,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_dataset_arguments(parser)
    parser.add_argument("--out", default="features/store", metavar="DIR", help="feature store to write into")
    parser.add_argument("--net", default="i3d",
                        help="backbone: i3d (DeepMind Kinetics-400 weights, offline), vivit, slowfast, slowfast_8x8, r2plus1d")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="weights file or folder; 'random' for random weights (labelled so in the store); "
                        "default: the net's own source (package file, Hugging Face cache, or download)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="compute precision")
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
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from mgmtfeat.extraction.run import ExtractionSettings, extract_features

    if args.limit is not None and args.limit < 1:
        _parser().error("--limit must be at least 1")
    if args.jobs < 1:
        _parser().error("--jobs must be at least 1")
    if args.scheduler:
        from mgmtfeat._parallel import SchedulerError, parse_scheduler

        if args.jobs > 1:
            _parser().error("--jobs and --scheduler both choose where cases run; give one of them")
        try:
            parse_scheduler(args.scheduler)
        except SchedulerError as err:
            _parser().error(str(err))
    settings = ExtractionSettings(
        data=args.data, out=args.out, net=args.net, weights=args.weights, dtype=args.dtype, device=args.device,
        threads=args.threads, limit=args.limit, exclude=exclusions(args), labels=args.labels, boxes=args.box_csv,
        clip_settings=clip_settings(args), num_frames=args.net_frames, size=args.net_size, force=args.force, jobs=args.jobs,
        scheduler=args.scheduler,
    )
    try:
        report = extract_features(settings, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = report.seconds
    timing = (f"; {seconds['total'] / len(report.done):.2f} s per case (forward {seconds['forward']:.1f} s, reading "
              f"and clips {seconds['read_and_clip']:.1f} s)" if report.done else "")
    print(f"{len(report.done)} cases extracted, {len(report.skipped)} already in the store, "
          f"{len(report.failed)} failed{timing}")
    for failure in report.failed:
        print(f"failed: case {failure['case_id']}: {failure['reason']}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
