"""``mgmtfeat extract``: Kinetics-400 features of every case of a dataset folder."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mgmtfeat.cli.dataset import BOX_HELP, add_dataset_arguments, clip_settings, exclusions
from mgmtfeat.cli.options import add_device, add_force, add_jobs, add_net, add_out, add_scheduler, check_scheduler
from mgmtfeat.cli.run import command_parser, print_failures, run_command
from mgmtfeat.cli.config import SETTINGS_FILE

NAME = "extract"


class _Repeated(argparse._AppendAction):
    """A repeatable option whose command-line values replace those of a ``--config`` file, not add to them."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = f"_{self.dest}_given"
        if not getattr(namespace, given, False):
            setattr(namespace, self.dest, None)
            setattr(namespace, given, True)
        super().__call__(parser, namespace, values, option_string)


def _parser() -> argparse.ArgumentParser:
    from mgmtfeat.backbones import list_backbones

    parser = command_parser(
        NAME,
        description="Turn each case of a dataset folder (BraTS 2021, BraTS 2023+, RSNA-MICCAI DICOM or UCSF-PDGM "
        "layout) or manifest CSV into its five 150-frame clips (FLAIR, T1, T1wCE, T2, delta-T1; on a 1 mm grid; "
        "--modalities picks fewer) and run them through a Kinetics-400 video "
        "network, or several (--net i3d,r2plus1d: each case is read and clipped once for all of them); store the "
        "400 output logits per clip in a feature store that `mgmtfeat cv --features` reads. Resumable per case "
        "and net: cases already in the store are skipped. Cases that fail are listed in STORE/NET/failures.csv "
        "and the run goes on; the exit status is 1 if any case failed.",
        epilog=BOX_HELP,
    )
    add_dataset_arguments(parser)
    add_out(parser, default="features/store",
                        help="feature store to write into; an existing store gets the new cases (resumes)")
    add_net(parser, default="i3d", as_list=False,
                        help=f"backbone, from the registry: {', '.join(list_backbones(all_variants=True))}; several "
                        "comma-separated (i3d,r2plus1d) read and clip each case once for all of them, each net with "
                        "its own store folder; or 'radiomics' (alone): the handcrafted baseline (pyradiomics features "
                        "of the tumour per input, from the volumes and the segmentation, no clips)")
    parser.add_argument("--radiomics-params", default=None, metavar="FILE",
                        help="--net radiomics: pyradiomics parameter YAML (default: the shipped params.yaml)")
    parser.add_argument("--radiomics-label", default=None, metavar="N[,N]",
                        help="--net radiomics: segmentation labels forming the mask, e.g. 1,4 (default: whole tumour)")
    parser.add_argument("--weights", action=_Repeated, default=None, metavar="[NET=]PATH",
                        help="weights file or folder; 'random' for random weights (labelled so in the store); with "
                        "several nets NET=PATH per net (repeat the option or separate by commas: "
                        "i3d=i3d.pt,r2plus1d=random), a bare 'random' for every net not named; default: each net's "
                        "own source (package file, Hugging Face cache, or download)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "int8", "auto"], default="float32",
                        help="compute precision; float32 (default) gives the same features on every CPU; bfloat16 is "
                        "faster where the CPU computes it natively (AVX-512 BF16 or AMX), emulated and far slower "
                        "elsewhere, and its features differ from float32 in the third digit; auto: bfloat16 only where "
                        "the CPU computes it natively, the net's measured bfloat16-vs-float32 CCC is >= 0.999 and bfloat16 is "
                        "measured faster for the net on this machine (timed once, cached), else "
                        "float32 (per net), so the features depend on the CPU; with auto a resumed store keeps the dtype "
                        "each net was made with; int8 (opt-in, CPU, vivit): linears dynamically quantised, gated by a recorded "
                        "CCC >= 0.999. The dtype used is recorded in the store's provenance")
    add_device(parser)
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases (by id)")
    parser.add_argument("--net-frames", type=int, default=None,
                        help="override the net's input frames (quick trials; recorded in the store's provenance)")
    parser.add_argument("--net-size", type=int, default=None,
                        help="override the net's input size in pixels (quick trials; recorded in provenance)")
    parser.add_argument("--sampling", choices=["uniform", "paper"], default="uniform",
                        help="frames each net takes from a clip: uniform (default) spreads the net's frames over the "
                        "whole clip, so it sees the whole tumour; paper takes the authors' frames and preprocessing "
                        "(frames 0, 25, ..., 125 for their GluonCV nets, 1, 26, ..., 126 repeated to 32 for vivit); "
                        "recorded in provenance, a store never mixes samplings")
    add_force(parser,
                        help="re-extract every case and replace the store's provenance for this net")
    add_jobs(parser, help="cases extracted in parallel worker processes on this machine (each with cores/N threads)")
    add_scheduler(parser,
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


@dataclass(frozen=True)
class ExtractOptions:
    """The rules across ``extract``'s options, checked before any data is read.

    Attributes
    ----------
    net : str
        ``--net`` as typed: one net, several comma-separated video nets, or ``radiomics`` alone.
    pathway : {"clips", "slices"}
        ``slices`` takes one image network, not radiomics, and alone takes ``channels`` and ``slices``.
    sampling : str
        Anything but ``uniform`` applies to the clip pathway's video nets only.
    frames : int
        Frames per clip (a net's ``paper`` sampling needs enough of them).
    channels : str
        Three clips ``M,M,M`` of the slice pathway, each among ``modalities``.
    slices : int or None
    modalities : tuple of str
        The clips made.
    limit : int or None
        At least 1.
    jobs : int
        At least 1, and 1 with ``scheduler``.
    scheduler : str or None
    radiomics_params, radiomics_label : str or None
        ``--net radiomics`` only; ``radiomics_label`` is integers separated by commas.
    nets : list of str
        The nets of ``net`` (filled in).
    radiomics_labels : tuple of int or None
        ``radiomics_label`` read (filled in).
    slice_settings : SliceSettings or None
        The slice pathway's settings, which check the channels themselves (filled in; None for clips).
    """

    net: str
    pathway: str = "clips"
    sampling: str = "uniform"
    frames: int = 150
    channels: str = "t1ce,t2,t2"
    slices: int | None = None
    modalities: tuple[str, ...] = ()
    limit: int | None = None
    jobs: int = 1
    scheduler: str | None = None
    radiomics_params: str | None = None
    radiomics_label: str | None = None
    nets: list = field(init=False, default_factory=list)
    radiomics_labels: tuple | None = field(init=False, default=None)
    slice_settings: object = field(init=False, default=None)

    def __post_init__(self):
        from mgmtfeat.extraction.nets import check_sampling, check_video_nets, net_list

        self.nets.extend(net_list(self.net))
        if self.sampling != "uniform" and (self.pathway == "slices" or self.nets == ["radiomics"]):
            raise ValueError(f"--sampling {self.sampling} applies to the clip pathway's video nets only")
        if self.pathway == "slices":  # one image network; extract_slices checks its kind
            if len(self.nets) != 1:
                raise ValueError(f"--net {self.net}: the slice pathway extracts one image network per run")
        elif self.nets != ["radiomics"]:
            check_video_nets(self.nets)
            check_sampling(self.nets, self.sampling, self.frames)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1 (got {self.limit})")
        if self.jobs < 1:
            raise ValueError(f"--jobs must be at least 1 (got {self.jobs})")
        check_scheduler(self.jobs, self.scheduler, "cases")
        self._check_radiomics()
        self._check_slices()

    def _check_radiomics(self):
        if (self.radiomics_params or self.radiomics_label) and self.nets != ["radiomics"]:
            raise ValueError("--radiomics-params and --radiomics-label apply to --net radiomics only")
        if self.radiomics_label:
            try:
                labels = tuple(int(v) for v in self.radiomics_label.split(","))
            except ValueError:
                raise ValueError(f"--radiomics-label {self.radiomics_label!r}: give integers separated by commas, "
                                 "e.g. 1,4") from None
            object.__setattr__(self, "radiomics_labels", labels)

    def _check_slices(self):
        if self.pathway == "clips":
            if self.slices is not None or self.channels != "t1ce,t2,t2":
                raise ValueError("--channels and --slices apply to --pathway slices only")
            return
        if self.net == "radiomics":
            raise ValueError("--net radiomics describes the tumour volume, not slices; drop --pathway slices")
        from mgmtfeat.clips.slices import SliceSettings

        object.__setattr__(self, "slice_settings", SliceSettings(channels=self.channel_list, n_slices=self.slices))
        if set(self.channel_list) - set(self.modalities):
            raise ValueError(f"--channels {','.join(self.channel_list)} uses clips that --modalities "
                             f"{','.join(self.modalities)} leaves out; add them to --modalities")

    @property
    def channel_list(self) -> tuple[str, ...]:
        """The three clips of the slice pathway's channels."""
        return tuple(c.strip() for c in self.channels.split(","))


def _options(args: argparse.Namespace) -> ExtractOptions:
    """:class:`ExtractOptions` of parsed arguments (ValueError for a rule broken)."""
    return ExtractOptions(
        net=args.net, pathway=args.pathway, sampling=args.sampling, frames=args.frames, channels=args.channels,
        slices=args.slices, modalities=clip_settings(args).modalities, limit=args.limit, jobs=args.jobs,
        scheduler=args.scheduler, radiomics_params=args.radiomics_params, radiomics_label=args.radiomics_label)


def _nets(args: argparse.Namespace) -> tuple[list[str], dict]:
    """The run's nets and each one's weights; ValueError for a bad list, before any data is read."""
    from mgmtfeat.extraction.nets import parse_weights

    nets = _options(args).nets
    return nets, parse_weights(args.weights, nets)


def _settings(args: argparse.Namespace):
    from mgmtfeat.extraction.run import ExtractionSettings

    options = _options(args)
    weights = _nets(args)[1]
    return ExtractionSettings(
        data=args.data, out=args.out, net=",".join(options.nets), weights=weights, dtype=args.dtype,
        device=args.device, threads=args.threads, limit=args.limit, exclude=exclusions(args), labels=args.labels,
        boxes=args.box_csv, clip_settings=clip_settings(args), num_frames=args.net_frames, size=args.net_size,
        force=args.force, sampling=args.sampling, jobs=args.jobs, scheduler=args.scheduler,
        radiomics_params=args.radiomics_params, radiomics_labels=options.radiomics_labels, slices=options.slice_settings,
    )


def _report(report) -> None:
    """Counts and seconds of a run: one line for one net; with several, a line per net and the pass."""
    seconds, done = report.seconds, len(report.done)
    if len(report.nets) <= 1:
        timing = (f"; {seconds['total'] / done:.2f} s per case (forward {seconds['forward']:.1f} s, "
                  f"reading and clips {seconds['read_and_clip']:.1f} s)" if done else "")
        print(f"{done} cases extracted, {len(report.skipped)} already in the store, "
              f"{len(report.failed)} failed{timing}")
        return
    for net, part in report.nets.items():
        n, forward = len(part.done), part.seconds["forward"]
        timing = f"; forward {forward:.1f} s ({forward / n:.2f} s per case)" if n else ""
        print(f"{net}: {n} cases extracted, {len(part.skipped)} already in the store, {len(part.failed)} failed{timing}")
    timing = (f"; {seconds['total'] / done:.2f} s per case (reading and clips {seconds['read_and_clip']:.1f} s once, "
              f"forward {seconds['forward']:.1f} s)" if done else "")
    print(f"{done} cases read and clipped once for {len(report.nets)} nets, {len(report.skipped)} already in the "
          f"store for every net, {len(report.failed)} failed{timing}")


def _plan(args: argparse.Namespace) -> str:
    """The dry run: the cases, and per net what is in the store and what would be extracted."""
    from mgmtfeat.cli.plan import dataset_plan
    from mgmtfeat.extraction.case_loop import select_cases
    from mgmtfeat.store import FeatureStore

    settings = _settings(args)
    nets, _ = _nets(args)
    refs, store = select_cases(settings), FeatureStore(args.out)

    def done(net):
        return (lambda case_id: False) if args.force else (lambda case_id: store.has_case(net, case_id))

    if len(nets) == 1:
        return dataset_plan(refs, done(nets[0]), f"{args.out} ({nets[0]})", f"{nets[0]} features")
    per_net = []
    for net in nets:
        skipped = [r.case_id for r in refs if done(net)(r.case_id)]
        per_net.append(f"{net}: {len(skipped)} already in {args.out} (would be skipped), would extract "
                       f"{len(refs) - len(skipped)} cases into {args.out}/{net}")
    return dataset_plan(refs, lambda case_id: all(done(net)(case_id) for net in nets),
                        f"{args.out} (every net: {', '.join(nets)})",
                        "features (cases read and clipped once for the nets that lack them)", extra=per_net)


def _settings_paths(args: argparse.Namespace) -> dict:
    """``{STORE/NET/settings.yaml: the options of that net}``: each net's record names it and its weights."""
    nets, weights = _nets(args)
    return {Path(args.out) / net / SETTINGS_FILE: argparse.Namespace(**{**vars(args), "net": net,
                                                                         "weights": weights[net]})
            for net in nets}


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat extract``; exit status 0, 1 when a case failed, 2 for bad input."""

    def work(args):
        from mgmtfeat.extraction.run import extract_features
        from mgmtfeat.extraction.slices import extract_slices

        settings = _settings(args)
        report = (extract_slices if settings.slices else extract_features)(settings, progress=not args.quiet)
        _report(report)
        print_failures(report.failed)
        return 0 if report.ok else 1

    def dry_run(args):
        print(_plan(args))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, _settings_paths)


if __name__ == "__main__":
    sys.exit(main())
