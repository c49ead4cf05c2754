"""Benchmark ``mgmtfeat predict --data``: seconds per case by phase, per net and dtype, and peak memory.

For each net and dtype asked (default: I3D with its own weights and ViViT-B/16x2 with random weights
of the real size, as no ViViT weights ship offline; float32 and int8) it:

1. writes a small synthetic BraTS 2021 cohort (default 3 cases of 240 x 240 x 155 voxels, the
   BraTS grid, so reading and clipping cost what they cost on BraTS files);
2. makes a model folder whose training features were made with that net and dtype exactly as
   ``extract`` makes them (the provenance is the net's own, built here; the features themselves are
   random, since only the cost is measured) and fits a logistic regression on it;
3. runs what ``mgmtfeat predict --model-dir M --data COHORT --out P`` runs
   (:func:`mgmtfeat.bundle.from_mri.predict_from_mri`) in a fresh process, so its peak resident
   memory is that of the step alone, and reads the phases the library measures
   (:data:`mgmtfeat.bundle.from_mri.PHASES`): set-up (model folder read, net built, provenance
   checked), reading (NIfTI files), geometry (to 1 mm on the T1wCE grid), clips (the five 150-frame
   clips, delta-T1 included), forward (the net on the five clips) and classifier.

It prints one table: seconds per case of each phase, "other" (the store's bookkeeping: the total
less the phases), the total seconds per case (the wall time of the step over the cases, as
``predict --data`` reports it: the first case carries the net's build, as a user's first case
does), core-seconds per case (total x torch threads), both against the paper's 7.29 s per case and
its 14 x 7.29 = 102 core-seconds (extraction included, its own hardware), and the peak memory. The
load average before and after each run is printed too, since other work on a shared CPU skews the
timings. int8 serves only the nets whose work is in linears (ViViT); bfloat16 is measured only on a
CPU that computes it natively. ``--batching`` also times the forward of a case's five clips as one
batch against one clip at a time (what the extraction runs on the CPU, ``Backbone.runs_as_one_batch``).

Usage::

    python benchmarks/bench_predict_mri.py                      # i3d and vivit, float32 and int8, 3 BraTS-size cases
    python benchmarks/bench_predict_mri.py --nets vivit --dtypes float32 int8 bfloat16 --cases 1 --batching
    python benchmarks/bench_predict_mri.py --quick              # tiny cohort and inputs, random weights (tests)
    python benchmarks/bench_predict_mri.py --device cuda --dtypes float32 bfloat16 --batching   # on a GPU

On a GPU (``--device cuda``) the clips of a case run as one batch, bfloat16 is timed where
``torch.cuda.is_bf16_supported()``, int8 (CPU-only) is skipped, and the core-seconds count the CPU
threads only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PAPER_SECONDS_PER_CASE = 7.29  # the paper's per-case inference time, extraction included
PAPER_CORES = 14  # its i5-13600KF
PAPER_CORE_SECONDS = PAPER_CORES * PAPER_SECONDS_PER_CASE  # 102
PHASES = ("setup", "reading", "geometry", "clips", "forward", "classifier")  # as mgmtfeat.bundle.from_mri.PHASES
COLUMNS = ("net", "dtype", *PHASES, "other", "total s/case", "core-s/case", "x paper 7.29 s", "x paper 102 core-s",
           "peak RSS MiB")
# --quick: a tiny cohort, short small clips and random-weight nets at a small input (frames, px) where they take
# one (I3D's kernels need 9 frames of 193 px at least), for tests
QUICK = {"shape": (48, 48, 24), "n_frames": 40, "box_size": 32, "inputs": {"vivit": (4, 32), "i3d": (10, 224)}}
BF16_SKIPPED = "bfloat16: not measured, this CPU emulates it"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs="+", default=["i3d", "vivit"], help="video nets to time (default: i3d vivit)")
    p.add_argument("--dtypes", nargs="+", default=["float32", "int8"], choices=["float32", "int8", "bfloat16"],
                   help="dtypes to time (default: float32 int8; bfloat16 only where native)")
    p.add_argument("--random", nargs="*", default=["vivit"], help="nets run with random weights (of the real size)")
    p.add_argument("--cases", type=int, default=3, help="synthetic cases (default 3)")
    p.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155), metavar=("X", "Y", "Z"),
                   help="voxels per synthetic volume (default: the BraTS grid)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device of the net, e.g. cuda (default: cpu)")
    p.add_argument("--batching", action="store_true",
                   help="also time a case's five clips one by one against one batch (forward only)")
    p.add_argument("--quick", action="store_true",
                   help=f"tiny run for tests: {'x'.join(map(str, QUICK['shape']))} voxels, {QUICK['n_frames']}-frame "
                        f"clips of {QUICK['box_size']} px, random weights, ViViT at 4 frames of 32 px")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--one", nargs=3, metavar=("MODEL", "COHORT", "OUT"), help=argparse.SUPPRESS)  # the child run
    return p


# -- the child process: one predict --data run, its phases and peak memory as JSON ---------------
def _one(model: str, cohort: str, out: str, threads: int, batching: bool, device: str = "cpu") -> dict:
    from mgmtfeat.bundle import PredictSettings
    from mgmtfeat.bundle.from_mri import MriSettings, predict_from_mri

    mri = MriSettings(data=cohort, threads=threads, device=device)
    frame, _, report = predict_from_mri(PredictSettings(model_dir=model, features=None, out=out), mri,
                                        progress=False)
    result = {"cases": len(frame), "seconds": report.seconds, "phases": report.phases, "peak_mib": report.peak_mib,
              "failed": report.failed}
    if batching:
        result["batching"] = _batching(model, mri)
    return result


def _batching(model: str, mri) -> dict:
    """Seconds of the forward of the first case's clips as one batch and one clip at a time, and their gap."""
    from mgmtfeat.bundle.from_mri import extraction_runs
    from mgmtfeat.bundle.record import read_record
    from mgmtfeat.data.layouts import find_cases
    from mgmtfeat.extraction.nets import net_settings
    from mgmtfeat.extraction.worker import open_backbone, read_clips
    from mgmtfeat.store import FeatureStore

    with tempfile.TemporaryDirectory() as tmp:
        (nets, settings, _), = extraction_runs(read_record(model), mri, tmp)
        run = net_settings(settings, nets, FeatureStore(tmp))[nets[0]]
    backbone = open_backbone(run)
    clips, _ = read_clips(find_cases(mri.data)[0], run.clip_settings)
    backbone.extract(clips, batch=True)  # the batch shape's kernels made once (the one-clip shape's by the run)
    start = time.perf_counter()
    batch = backbone.extract(clips, batch=True)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    single = backbone.extract(clips, batch=False)
    one_by_one = time.perf_counter() - start
    return {"clips": len(clips), "batched_s": batched, "one_by_one_s": one_by_one,
            "max_abs_difference": float(np.abs(batch - single).max()),
            "max_abs_logit": float(np.abs(single).max())}


# -- the parent: cohort, model folders, one child per net and dtype, the table -------------------
def _model(root: Path, net: str, weights: str | None, dtype: str, cohort: Path, quick: bool) -> Path:
    """A model folder whose features' provenance is what `extract --net NET --dtype DTYPE` records on ``cohort``."""
    from mgmtfeat import MODALITIES
    from mgmtfeat.clips import ClipSettings
    from mgmtfeat.extraction.nets import net_settings
    from mgmtfeat.extraction.run import ExtractionSettings
    from mgmtfeat.extraction.worker import backbone_provenance
    from mgmtfeat.cli.fit import main as fit
    from mgmtfeat.store import FeatureStore

    small = {}
    if quick:
        frames, size = QUICK["inputs"].get(net, (None, None))
        small = dict(num_frames=frames, size=size,
                     clip_settings=ClipSettings(n_frames=QUICK["n_frames"], box_size=QUICK["box_size"]))
    settings = ExtractionSettings(data=str(cohort), out=str(root / "train"), net=net, weights=weights, dtype=dtype,
                                  threads=1, **small)
    store = FeatureStore(root / "train")
    runs = net_settings(settings, [net], store)
    store.write_provenance(net, backbone_provenance(net, runs))
    rng = np.random.default_rng(0)
    for i in range(8):  # features only shape the estimator; the cost measured is the extraction's
        store.write_case(net, f"train{i}", {m: rng.normal(size=400).astype(np.float32) for m in MODALITIES}, i % 2)
    if fit(["--model", "logistic", "--features", str(root / "train"), "--net", net, "--model-dir",
            str(root / "model"), "--quiet"]) != 0:
        raise RuntimeError(f"fitting the {net} {dtype} benchmark model failed")
    return root / "model"


def _child(model: Path, cohort: Path, out: Path, args) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--one", str(model), str(cohort), str(out),
               "--threads", str(args.threads), "--device", args.device, *(["--batching"] if args.batching else [])]
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load_before": load, "load_after": os.getloadavg()[0]}


def row(net: str, dtype: str, result: dict, threads: int) -> dict:
    """One table row: per-case seconds of each phase and of the rest, the total and its ratios to the paper."""
    n = result["cases"]
    per_case = {phase: result["phases"][phase] / n for phase in PHASES}
    total = result["seconds"] / n
    core = total * threads
    return {"net": net, "dtype": dtype, **per_case, "other": total - sum(per_case.values()), "total s/case": total,
            "core-s/case": core, "x paper 7.29 s": total / PAPER_SECONDS_PER_CASE,
            "x paper 102 core-s": core / PAPER_CORE_SECONDS, "peak RSS MiB": result["peak_mib"]}


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (seconds to 2 decimals, ratios to 2, memory to whole MiB)."""
    def cell(key, value):
        if isinstance(value, str):
            return value
        return f"{value:.0f}" if key in ("peak RSS MiB", "core-s/case") else f"{value:.2f}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(k, r.get(k, "")) for k in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def _unavailable(net: str, dtype: str, device: str = "cpu") -> str | None:
    """Why ``dtype`` is not timed for ``net`` on ``device``, or None."""
    from mgmtfeat.backbones import native_bfloat16_on
    from mgmtfeat.backbones.quantize import check_int8

    if dtype == "bfloat16" and not native_bfloat16_on(device):
        return BF16_SKIPPED if device == "cpu" else f"bfloat16: not measured, {device} does not compute it natively"
    if dtype == "int8":
        try:
            check_int8(net, device)
        except ValueError as err:
            return f"{net} int8: not available ({err})"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from mgmtfeat.backbones import check_device

    try:
        check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.one:
        print(json.dumps(_one(*args.one, args.threads, args.batching, args.device)))
        return 0
    from mgmtfeat.data.synthetic import write_cohort

    shape = QUICK["shape"] if args.quick else tuple(args.shape)
    random = set(args.nets) if args.quick else set(args.random)
    rows, results, notes = [], {}, []
    with tempfile.TemporaryDirectory(prefix="bench-predict-mri-") as tmp:
        cohort = write_cohort(Path(tmp) / "cohort", "brats2021", n_cases=args.cases, shape=shape, seed=0)
        for net in args.nets:
            for dtype in args.dtypes:
                why = _unavailable(net, dtype, args.device)
                if why:
                    notes += [why] if why not in notes else []
                    continue
                weights = "random" if net in random else None
                root = Path(tmp) / f"{net}-{dtype}"
                model = _model(root, net, weights, dtype, cohort, args.quick)
                result = _child(model, cohort, root / "predictions", args)
                results[f"{net}/{dtype}"] = {**result, "weights": weights or "own", "row": row(net, dtype, result,
                                                                                             args.threads)}
                rows.append(results[f"{net}/{dtype}"]["row"])
                print(f"{net} {dtype} ({'random weights' if weights else 'its own weights'}): load average "
                      f"{result['load_before']:.1f} before, {result['load_after']:.1f} after", flush=True)
    print(f"\n{args.cases} cases of {'x'.join(map(str, shape))} voxels, {args.threads} torch threads, device "
          f"{args.device}; seconds per "
          f"case (the paper: {PAPER_SECONDS_PER_CASE} s per case, {PAPER_CORES} x {PAPER_SECONDS_PER_CASE} = "
          f"{PAPER_CORE_SECONDS:.0f} core-seconds)\n")
    print(table(rows))
    for note in notes:
        print(note)
    for key, result in results.items():
        if "batching" in result:
            b = result["batching"]
            print(f"{key} forward of {b['clips']} clips: {b['batched_s']:.2f} s as one batch, "
                  f"{b['one_by_one_s']:.2f} s one by one ({b['one_by_one_s'] / b['batched_s']:.2f} x); largest logit difference "
                  f"{b['max_abs_difference']:.2e} (largest logit {b['max_abs_logit']:.2e})")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results, "notes": notes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
