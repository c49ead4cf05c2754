"""Benchmark ``mgmtfeat predict --data``: seconds per case and peak memory from MRI to prediction.

For each net asked (default: I3D with its own weights, and ViViT-B/16x2 with random weights of the
real size, as no ViViT weights ship offline) it:

1. writes a small synthetic BraTS 2021 cohort (default 3 cases of 240 x 240 x 155 voxels, the
   BraTS grid, so reading and clipping cost what they cost on BraTS files);
2. makes a model folder whose training features were made with that net exactly as ``extract``
   makes them (the provenance is the net's own, built here; the features themselves are random,
   since only the cost is measured) and fits a logistic regression on it;
3. runs ``mgmtfeat predict --model-dir M --data COHORT --out P`` in a fresh process (so its peak
   resident memory is that of the command alone) and reads the seconds per case and the peak
   memory from ``P/provenance.json``, which the command writes.

It prints both figures per net, next to the paper's 7.29 s per case (extraction included, its own
hardware), the torch threads and the load average before and after each run, since other work on a
shared CPU skews the timings. One process per command also means that each run builds its net and
lets oneDNN make its kernels: the first case carries that cost, as a user's first case does.

Usage::

    python benchmarks/bench_predict_mri.py                      # i3d and vivit, 3 cases, BraTS size
    python benchmarks/bench_predict_mri.py --nets i3d --cases 2 --shape 96 96 64
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PAPER_SECONDS_PER_CASE = 7.29  # the paper's per-case inference time, extraction included


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs="+", default=["i3d", "vivit"], help="video nets to time, one run each")
    p.add_argument("--random", nargs="*", default=["vivit"], help="nets run with random weights (of the real size)")
    p.add_argument("--cases", type=int, default=3, help="synthetic cases (default 3)")
    p.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155), metavar=("X", "Y", "Z"),
                   help="voxels per synthetic volume (default: the BraTS grid)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p


def _model(root: Path, net: str, weights: str | None, cohort: Path) -> Path:
    """A model folder whose features' provenance is what `extract --net NET` records on ``cohort``."""
    from mgmtfeat import MODALITIES
    from mgmtfeat.extraction.nets import net_settings
    from mgmtfeat.extraction.run import ExtractionSettings
    from mgmtfeat.extraction.worker import backbone_provenance
    from mgmtfeat.cli.fit import main as fit
    from mgmtfeat.store import FeatureStore

    settings = ExtractionSettings(data=str(cohort), out=str(root / "train"), net=net, weights=weights)
    store = FeatureStore(root / "train")
    runs = net_settings(settings, [net], store)
    store.write_provenance(net, backbone_provenance(net, runs))
    rng = np.random.default_rng(0)
    for i in range(8):  # features only shape the estimator; the cost measured is the extraction's
        store.write_case(net, f"train{i}", {m: rng.normal(size=400).astype(np.float32) for m in MODALITIES}, i % 2)
    if fit(["--model", "logistic", "--features", str(root / "train"), "--net", net, "--model-dir",
            str(root / "model"), "--quiet"]) != 0:
        raise RuntimeError(f"fitting the {net} benchmark model failed")
    return root / "model"


def _run(model: Path, cohort: Path, out: Path, threads: int) -> dict:
    command = [sys.executable, "-m", "mgmtfeat", "predict", "--model-dir", str(model), "--data", str(cohort),
               "--out", str(out), "--threads", str(threads), "--quiet"]
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    extraction = json.loads((out / "provenance.json").read_text())["extraction"]
    return {**extraction, "load_before": load, "load_after": os.getloadavg()[0], "stdout": done.stdout.strip()}


def main(argv: list[str] | None = None) -> int:
    from mgmtfeat.data.synthetic import write_cohort

    args = _parser().parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-predict-mri-") as tmp:
        cohort = write_cohort(Path(tmp) / "cohort", "brats2021", n_cases=args.cases, shape=tuple(args.shape), seed=0)
        for net in args.nets:
            weights = "random" if net in args.random else None
            model = _model(Path(tmp) / net, net, weights, cohort)
            results[net] = _run(model, cohort, Path(tmp) / net / "predictions", args.threads)
            r = results[net]
            print(f"{net} ({'random weights' if weights else 'its own weights'}): {r['seconds_per_case']:.2f} s per "
                  f"case ({r['seconds_per_case'] / PAPER_SECONDS_PER_CASE:.2f} x the paper's "
                  f"{PAPER_SECONDS_PER_CASE} s), peak memory {r['peak_memory_mib']:.0f} MiB, {args.cases} cases of "
                  f"{'x'.join(map(str, args.shape))} voxels, {args.threads} torch threads, load average "
                  f"{r['load_before']:.1f} before, {r['load_after']:.1f} after")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
