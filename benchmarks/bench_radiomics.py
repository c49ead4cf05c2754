"""Seconds per case for radiomics features (five inputs) and for rigid T1 -> T1wCE registration.

Makes one synthetic BraTS-size case in memory (``phantom``, default 240x240x155 at 1 mm),
then times, wall clock, median of ``--repeats``:

* ``radiomics_features`` with the shipped params (all five inputs, whole tumour), after
  a warm-up of ``feature_names`` (imports and the one-off name probe);
* ``register_rigid`` of a T1 moved by 4 deg about S, 2 deg about R and (3, -2, 1.5) mm onto
  the T1wCE, with the default settings (``--threads`` ITK threads; 1 is reproducible).

    python benchmarks/bench_radiomics.py --repeats 1
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import numpy as np

from mgmtfeat.clips.registration import RegistrationSettings, register_rigid
from mgmtfeat.data.layouts import CaseRef
from mgmtfeat.data.synthetic import phantom
from mgmtfeat.data.volumes import Case, Volume
from mgmtfeat.radiomics import RadiomicsSettings, feature_names, radiomics_features


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each (default 1)")
    parser.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155), help="volume shape X Y Z")
    parser.add_argument("--threads", type=int, default=1, help="ITK threads for the registration (default 1)")
    parser.add_argument("--skip", choices=("radiomics", "registration"), help="time only the other one")
    return parser


def _moved(volume: Volume) -> Volume:
    """``volume`` after a known rigid head motion about its centre (RAS mm)."""
    from scipy.ndimage import affine_transform

    a, b = np.radians(4.0), np.radians(2.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    centre = volume.affine @ np.array([*((np.array(volume.shape) - 1) / 2), 1.0])
    motion = np.eye(4)
    motion[:3, :3] = rz @ rx
    motion[:3, 3] = centre[:3] - motion[:3, :3] @ centre[:3] + [3.0, -2.0, 1.5]
    voxel_map = np.linalg.inv(volume.affine) @ np.linalg.inv(motion) @ volume.affine
    data = affine_transform(volume.data, voxel_map[:3, :3], voxel_map[:3, 3], order=1)
    return Volume(data.astype(np.float32), volume.affine, volume.path)


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    shape = tuple(args.shape)
    images, seg = phantom(shape, label=1, seed=0)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])  # BraTS: 1 mm isotropic
    affine[:3, 3] = -(np.array(shape) - 1) / 2
    volumes = {m: Volume(a.astype(np.float32), affine, f"{m}.nii.gz") for m, a in images.items()}
    case = Case(CaseRef("BENCH", "brats2021", {}), volumes, Volume(seg, affine, "seg.nii.gz"))
    print("command:", shlex.join(["python", *sys.argv]))
    print(f"case: shape {shape}, 1 mm, whole tumour {int((seg > 0).sum())} voxels")
    if args.skip != "radiomics":
        settings = RadiomicsSettings()
        names = feature_names(settings)
        seconds = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = radiomics_features(case, settings)
            seconds.append(time.perf_counter() - t0)
        print(f"radiomics_features: {len(out)} inputs x {len(names)} features, median {np.median(seconds):.2f} s "
              f"per case over {args.repeats} run(s) (params {settings.params.name}, "
              f"sha256 {settings.digest[:12]})")
    if args.skip != "registration":
        moved = _moved(volumes["t1"])
        settings = RegistrationSettings(threads=args.threads)
        seconds = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = register_rigid(moved, volumes["t1ce"], settings, case_id="BENCH")
            seconds.append(time.perf_counter() - t0)
        print(f"register_rigid: median {np.median(seconds):.2f} s per case over {args.repeats} run(s), "
              f"threads {args.threads}; angles {np.round(result.angles_deg, 2).tolist()} deg, "
              f"translation {np.round(result.translation_mm, 2).tolist()} mm, metric {result.metric:.3f}, "
              f"{result.iterations} iterations at the last level")


if __name__ == "__main__":
    main()
