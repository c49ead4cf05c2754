"""Tests for mgmtfeat.clips.video: MP4/AVI export and read-back, montages, previews."""

import imageio.v2 as imageio
import numpy as np
import pytest

from mgmtfeat import MODALITIES
from mgmtfeat.data import synthetic
from mgmtfeat.clips import make_clips
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.clips.video import montage, read_video, write_montage, write_preview, write_video
from mgmtfeat.data.volumes import load_case


def _clip(n=30):
    """A smooth moving blob: compresses well, so the codec error stays small."""
    t, r, c = np.meshgrid(np.arange(n), np.arange(128), np.arange(128), indexing="ij")
    blob = np.exp(-((r - 40 - t) ** 2 + (c - 64) ** 2) / 600.0)
    return np.rint(30 + 200 * blob).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_round_trip(tmp_path, suffix):
    clip = _clip()
    path = write_video(clip, tmp_path / f"clip{suffix}")
    back = read_video(path)
    assert back.shape == clip.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - clip).mean() < 3  # lossy, but close
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"clip{suffix}"]  # no temp file left


def test_video_bad_input(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_video(_clip().astype(np.float32), tmp_path / "a.mp4")
    with pytest.raises(ValueError, match=".mp4 or .avi"):
        write_video(_clip(), tmp_path / "a.gif")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="missing or empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 100)
    with pytest.raises(ValueError, match="cannot be decoded"):
        read_video(tmp_path / "junk.mp4")


def test_montage_skips_padding(tmp_path):
    clip = np.zeros((150, 128, 128), np.uint8)
    for k in range(50, 90):
        clip[k] = k
    image = montage(clip, n_tiles=16, columns=4)
    assert image.shape == (4 * 128, 4 * 128)
    tiles = image.reshape(4, 128, 4, 128).transpose(0, 2, 1, 3).reshape(16, 128, 128)
    assert tiles[0, 0, 0] == 50 and tiles[-1, 0, 0] == 89 and np.all(tiles[:, 0, 0] > 0)
    path = write_montage(clip, tmp_path / "m.png")
    np.testing.assert_array_equal(imageio.imread(path), image)
    with pytest.raises(ValueError, match=".png"):
        write_montage(clip, tmp_path / "m.jpg")


def test_preview_shows_the_slice_with_a_red_box(tmp_path):
    root = synthetic.write_cohort(tmp_path / "b", "brats2021", n_cases=1, shape=(160, 160, 40), seed=2)
    case = load_case(find_cases(root)[0])
    cc = make_clips(case)
    path = write_preview(case, cc, tmp_path / "p.png", n_tiles=4)
    image = imageio.imread(path)
    assert image.ndim == 3 and image.shape[0] >= len(MODALITIES) * 100  # a labelled row per modality
    red = (image[..., 0] == 255) & (image[..., 1] == 0) & (image[..., 2] == 0)
    assert red.sum() > 4 * 50  # the box outline on each row
    grey = image[..., 0] == image[..., 1]
    assert (image[grey][:, 0] > 0).mean() > 0.2  # brain content, not a blank picture
