"""Tests for mgmtfeat.saliency: occlusion patches, the map back on the MRI, the command's refusals.

A tiny random-weight ViViT (8 frames, 32 pixels) and a logistic model fitted on its features
of synthetic clips whose label is a bright lesion stand in for I3D and a fitted model.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mgmtfeat import MODALITIES, __version__
from mgmtfeat.__main__ import main as cli
from mgmtfeat.backbones import create_backbone
from mgmtfeat.bundle.record import FORMAT
from mgmtfeat.clips import ClipSettings
from mgmtfeat.clips.placement import Placement
from mgmtfeat.data.layouts import modality_path
from mgmtfeat.data.nifti import write_nifti
from mgmtfeat.models.persistence import save_estimator
from mgmtfeat.saliency import OcclusionSettings, SaliencyError, occlusion_drops, patch_boxes, run_saliency, to_volume
from mgmtfeat.saliency.occlusion import occlude

NET = "vivit"  # random weights; a random R(2+1)D barely reacts to an 8-pixel patch at 32 pixels
SIZE, FRAMES = 32, 8
CLIPS = ClipSettings(n_frames=FRAMES, box_size=SIZE, box="brain", percentile_sample=0)
#: Lesion in frame coordinates (rows, columns), on one patch of an 8-pixel grid.
LESION = (slice(8, 16), slice(16, 24))
AFFINE = np.array([[-1.2, 0, 0, 40.0], [0, 1.1, 0, -30.0], [0, 0, 2.5, 7.0], [0, 0, 0, 1]])


@pytest.fixture(scope="module")
def backbone():
    return create_backbone(NET, pretrained=False, num_frames=FRAMES, size=SIZE)


def _volume(seed: int, lesion: bool) -> np.ndarray:
    """Canonical (X, Y, Z) = (32, 32, 8) noisy brain filling the grid, a bright block in frame rows/cols LESION.

    Written with :data:`AFFINE` (x towards the left), so it is read back flipped; :func:`_on_disk` flips it first.
    """
    rng = np.random.default_rng(seed)
    data = (rng.random((SIZE, SIZE, FRAMES), dtype=np.float32) * 400 + 300).astype(np.float32)
    if lesion:  # frame[z, r, c] = volume[X - 1 - c, Y - 1 - r, z]
        rows, cols = LESION
        data[SIZE - cols.stop:SIZE - cols.start, SIZE - rows.stop:SIZE - rows.start, :] = 2000
    return data


def _on_disk(canonical: np.ndarray) -> np.ndarray:
    """The voxel order of a file with :data:`AFFINE` (first axis towards the left) of a RAS+ volume."""
    return np.ascontiguousarray(canonical[::-1])


def _clip(data: np.ndarray) -> np.ndarray:
    """The uint8 (8, 32, 32) clip of a volume (the grid equals the box: no resampling)."""
    from mgmtfeat.clips.make import to_frames

    frames = to_frames(data)
    lo, hi = np.percentile(data, [1, 99])
    return np.clip((frames - lo) / (hi - lo) * 255, 0, 255).round().astype(np.uint8)


def _write_dataset(root: Path, cases: dict[str, np.ndarray]) -> Path:
    for case_id, data in cases.items():
        for m in ("flair", "t1", "t1ce", "t2"):
            volume = data if m == "t1ce" else _volume(99, False)
            write_nifti(modality_path(root, "brats2021", case_id, m), _on_disk(volume), AFFINE, dtype=np.float32)
    return root


def _model_dir(folder: Path, backbone, fill: str = "mean") -> Path:
    """A model folder whose (hand-set) logistic model reads 'lesion' along one direction of the t1ce features.

    The direction is the mean change of the features when the lesion's patch is masked, over clips of
    other noise seeds than the tested case; the flair input has zero weight but must still be given.
    """
    from sklearn.linear_model import LogisticRegression

    grid = patch_boxes(FRAMES, SIZE, OcclusionSettings(patch=8, stride=8))
    hit = [b for b in grid if (b.r0, b.c0) == (LESION[0].start, LESION[1].start)]
    lesion = np.stack([_clip(_volume(seed, True)) for seed in range(3)])
    masked = np.stack([occlude(c, hit, fill)[0] for c in lesion])
    f_lesion, f_masked = backbone.extract(lesion).mean(axis=0), backbone.extract(masked).mean(axis=0)
    direction = f_lesion - f_masked
    gain = 6.0 / float(direction @ direction)  # +-3 logits at the two means
    model = LogisticRegression().fit(np.random.default_rng(0).random((4, 800)), [0, 1, 0, 1])
    model.coef_ = np.concatenate([np.zeros(400), gain * direction])[None]
    model.intercept_ = np.array([-gain * float(direction @ (f_lesion + f_masked) / 2)])
    folder.mkdir(parents=True)
    files = [p.name for p in save_estimator(model, folder, "estimator")]
    record = {"format": FORMAT, "mgmtfeat_version": __version__, "nets": [NET], "modalities": ["flair", "t1ce"],
              "inputs": [f"{NET}:flair", f"{NET}:t1ce"], "estimators": ["estimator"], "files": files,
              "task": {"classes": [0, 1], "positive_class": 1, "label_source": "store"},
              "model": {"name": "logistic"},
              "features": {"provenance": {NET: {**backbone.provenance, "clips": CLIPS.as_dict()}}}}
    (folder / "model.json").write_text(json.dumps(record, default=str))
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory, backbone):
    root = tmp_path_factory.mktemp("saliency")
    data = _write_dataset(root / "data", {"BraTS2021_00001": _volume(7, True), "BraTS2021_00002": _volume(8, False)})
    return data, _model_dir(root / "model", backbone)


def test_patch_grid_covers_the_box_and_the_last_patch_ends_on_its_edge():
    boxes = patch_boxes(150, 128, OcclusionSettings(patch=32, stride=32))
    assert len(boxes) == 16 and all((b.f0, b.f1) == (0, 150) for b in boxes)
    assert len(patch_boxes(150, 128, OcclusionSettings())) == 49  # the default: patch 32, stride 16
    odd = patch_boxes(10, 30, OcclusionSettings(patch=8, stride=8, frame_patch=4))
    assert sorted({b.r0 for b in odd}) == [0, 8, 16, 22] and sorted({(b.f0, b.f1) for b in odd}) == [(0, 4), (4, 8),
                                                                                                       (8, 10)]
    with pytest.raises(ValueError, match="larger than the 16x16 box"):
        patch_boxes(8, 16, OcclusionSettings(patch=32))
    for bad in ({"patch": 0}, {"stride": -1}, {"fill": "noise"}, {"frame_patch": -2}):
        with pytest.raises(ValueError):
            OcclusionSettings(**bad)


def test_fill_is_the_clip_mean_or_zero():
    clip = np.zeros((2, 4, 4), np.uint8)
    clip[:, :2] = 200  # mean 100
    box = patch_boxes(2, 4, OcclusionSettings(patch=2, stride=2))[:1]
    assert (occlude(clip, box, "mean")[0, :, :2, :2] == 100).all()
    assert (occlude(clip, box, "zero")[0, :, :2, :2] == 0).all()
    assert (occlude(clip, box)[0, :, 2:] == clip[:, 2:]).all()  # the rest untouched


def test_drops_map_back_through_a_resampled_box_and_average_overlaps():
    # a whole-brain placement: a 20-voxel square from frame row 2, column 4, slices 3..7, resampled to 10 pixels
    p = Placement("whole_brain", "resized_brain_square", 2, 4, 20, 3, 7, None, True)
    s = OcclusionSettings(patch=5, stride=5)
    boxes = patch_boxes(4, 10, s)
    values = np.array([1.0 if (b.r0, b.c0) == (0, 5) else 0.0 for b in boxes])
    vol = to_volume(values, boxes, p, 10, (30, 26, 12))  # (X, Y, Z)
    frames = vol[::-1, ::-1, :].transpose(2, 1, 0)  # back to (slices, rows, columns)
    assert frames.shape == (12, 26, 30)
    ones = np.argwhere(frames == 1.0)
    assert ones[:, 0].min() == 3 and ones[:, 0].max() == 6  # slices 3..6
    assert ones[:, 1].min() == 2 and ones[:, 1].max() == 11  # rows 2..11 (5 pixels x 2 voxels)
    assert ones[:, 2].min() == 14 and ones[:, 2].max() == 23  # columns 4 + 10 .. 4 + 19
    overlap = to_volume(np.array([1.0, 3.0]), boxes[:1] * 2, p, 10, (30, 26, 12))
    assert overlap.max() == 2.0  # overlapping patches are averaged, not summed


def test_occlusion_peak_lies_in_the_planted_lesion(setup, tmp_path):
    data, model = setup
    results = run_saliency(model, data, ["BraTS2021_00001"], tmp_path / "out",
                           settings=OcclusionSettings(patch=8, stride=8))
    r = results[0]
    assert r.p0 > 0.5 and len(r.boxes) == 16
    top = r.boxes[int(np.argmax(r.drops))]
    assert (top.r0, top.c0) == (LESION[0].start, LESION[1].start)
    # the map on the MRI: its peak voxels are the lesion's voxels
    img = nib.load(tmp_path / "out" / "BraTS2021_00001_saliency.nii.gz")
    t1ce = nib.load(modality_path(data, "brats2021", "BraTS2021_00001", "t1ce"))
    # both affines from float32 NIfTI headers of the same geometry: equal up to float32 rounding of ~100 mm
    # (1e-5), while a map on another grid is off by voxels
    assert img.shape == t1ce.shape and np.allclose(img.affine, t1ce.affine, rtol=0, atol=1e-5)
    sal = np.asarray(img.dataobj)
    lesion = np.asarray(t1ce.dataobj) == 2000  # in the file's own (not RAS) voxel order
    assert lesion[sal == sal.max()].all() and sal[lesion].min() == sal.max()
    for name in ("BraTS2021_00001_saliency.png", "BraTS2021_00001_patches.csv", "saliency.csv"):
        assert (tmp_path / "out" / name).is_file()
    with pytest.raises(FileExistsError, match="--force"):
        run_saliency(model, data, ["BraTS2021_00001"], tmp_path / "out", settings=OcclusionSettings(patch=8, stride=8))


def test_command_refuses_unknown_case_modality_and_a_modality_the_model_does_not_take(setup, tmp_path, capsys):
    data, model = setup
    base = ["saliency", "--model-dir", str(model), "--data", str(data), "--out", str(tmp_path / "o"),
            "--patch", "16", "--stride", "16"]
    assert cli(base + ["--cases", "BraTS2021_00042"]) == 2
    assert "holds no case BraTS2021_00042" in capsys.readouterr().err
    assert cli(base + ["--cases", "BraTS2021_00001", "--modality", "pet"]) == 2
    assert "unknown; choose from" in capsys.readouterr().err
    assert cli(base + ["--cases", "BraTS2021_00001", "--modality", "t2"]) == 2
    assert "inputs are vivit:flair, vivit:t1ce" in capsys.readouterr().err
    assert cli(base + ["--cases", "BraTS2021_00001,BraTS2021_00002"]) == 0  # a healthy case goes through too
    assert "BraTS2021_00002: P(positive)" in capsys.readouterr().out
    assert cli(["saliency", "--model-dir", str(tmp_path / "nothing"), "--data", str(data), "--cases",
                "BraTS2021_00001", "--out", str(tmp_path / "p")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_other_inputs_keep_their_features_and_drops_are_relative_to_the_unmasked_clip():
    calls = []

    def score(clips):
        calls.append(len(clips))
        return clips.reshape(len(clips), -1).mean(axis=1) / 255.0

    clip = np.full((4, 8, 8), 255, np.uint8)
    p0, drops, boxes = occlusion_drops(clip, score, OcclusionSettings(patch=4, stride=4, fill="zero", batch=3))
    # means of 0 and 255 over exact quarters, divided by 255: 1 and 0.75 to float64 rounding (1e-12)
    assert p0 == 1.0 and np.allclose(drops, 0.25, rtol=0, atol=1e-12) and calls == [1, 3, 1]
    assert set(MODALITIES) >= {"t1ce", "flair"}


def _slice_model_dir(folder: Path) -> Path:
    """A slice model folder (random ResNet-50 at 32 pixels) whose hand-set logistic model reads the lesion.

    As :func:`_model_dir`, along the change of the slice embeddings when the lesion's patch is masked in
    the T1wCE channel of (T1wCE, T2, T2) slices of other noise seeds than the tested case.
    """
    from sklearn.linear_model import LogisticRegression

    from mgmtfeat.saliency.slices import _masked_copies

    backbone = create_backbone("resnet50", pretrained=False, size=SIZE)
    grid = patch_boxes(1, SIZE, OcclusionSettings(patch=8, stride=8))
    hit = [b for b in grid if (b.r0, b.c0) == (LESION[0].start, LESION[1].start)]
    t2 = _clip(_volume(99, False))
    images = np.concatenate([np.stack([_clip(_volume(seed, True)), t2, t2], axis=1) for seed in range(2)])
    masked = np.concatenate([_masked_copies(image, np.array([0]), hit, "mean") for image in images])
    f_lesion = backbone.extract(images, return_embedding=True).mean(axis=0)
    f_masked = backbone.extract(masked, return_embedding=True).mean(axis=0)
    direction = f_lesion - f_masked
    gain = 6.0 / float(direction @ direction)
    model = LogisticRegression().fit(np.random.default_rng(0).random((4, len(direction))), [0, 1, 0, 1])
    model.coef_ = gain * direction[None]
    model.intercept_ = np.array([-gain * float(direction @ (f_lesion + f_masked) / 2)])
    folder.mkdir(parents=True)
    files = [p.name for p in save_estimator(model, folder, "estimator")]
    provenance = {**backbone.provenance, "clips": CLIPS.as_dict(), "pathway": "slices",
                  "slices": {"channels": ["t1ce", "t2", "t2"], "n_slices": None}}
    record = {"format": FORMAT, "mgmtfeat_version": __version__, "pathway": "slices", "nets": ["resnet50"],
              "modalities": [], "inputs": ["resnet50:slices"], "estimators": ["estimator"], "files": files,
              "task": {"classes": [0, 1], "positive_class": 1, "label_source": "store"}, "model": {"name": "logistic"},
              "features": {"provenance": {"resnet50": provenance}}}
    (folder / "model.json").write_text(json.dumps(record, default=str))
    return folder


def test_slice_model_occlusion_peak_lies_in_the_planted_lesion(setup, tmp_path):
    data, _ = setup
    model = _slice_model_dir(tmp_path / "slice-model")
    r = run_saliency(model, data, ["BraTS2021_00001"], tmp_path / "out", settings=OcclusionSettings(patch=8, stride=8))[0]
    assert r.p0 > 0.5 and len(r.boxes) == 16 * FRAMES  # 16 patches on each of the 8 ROI slices
    assert {(b.f1 - b.f0) for b in r.boxes} == {1}  # one slice per patch: the map resolves the slice axis
    per_slice = r.drops.reshape(FRAMES, 16)
    for drops in per_slice:  # on every slice the lesion's patch matters most
        top = r.boxes[int(np.argmax(drops))]
        assert (top.r0, top.c0) == (LESION[0].start, LESION[1].start)
    sal = np.asarray(nib.load(tmp_path / "out" / "BraTS2021_00001_saliency.nii.gz").dataobj)
    lesion = np.asarray(nib.load(modality_path(data, "brats2021", "BraTS2021_00001", "t1ce")).dataobj) == 2000
    assert lesion[sal == sal.max()].all()
    with pytest.raises(SaliencyError, match="channels are t1ce, t2, t2"):
        run_saliency(model, data, ["BraTS2021_00001"], tmp_path / "o2", modality="flair")
