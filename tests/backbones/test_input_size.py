"""Every net checks its input size against its kernels and strides before the first forward."""

import pytest

from mgmtfeat.cli import extract
from mgmtfeat.backbones import create_backbone
from mgmtfeat.backbones.input_size import InputSizeError
from mgmtfeat.data.synthetic import write_cohort

TINY_VIVIT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}


@pytest.mark.parametrize("name, kwargs, expected", [
    # SlowFast's slow pathway takes one frame in alpha = 8: fewer than 8 frames leave it none
    ("slowfast", dict(num_frames=2, size=32), "slowfast cannot take 2 frames of 32x32 pixels: its kernels and "
                                              "strides need at least 8 frames"),
    # its two pathways pair 8-11 and 16 frames, not 12: the nearest accepted counts are named
    ("slowfast", dict(num_frames=12, size=64, model_kwargs={"depth": 18}),
     "the accepted frame counts nearest 12 are 8 and 16"),
    ("i3d", dict(num_frames=16, size=64), "i3d cannot take 16 frames of 64x64 pixels: its kernels and strides need "
                                          "at least 9 frames and 193x193 pixels"),
    ("i3d2d", dict(size=64), "i3d2d cannot take images of 64x64 pixels: its kernels and strides need at least "
                             "193x193 pixels"),
    ("vivit", dict(num_frames=1, size=8, model_kwargs=TINY_VIVIT),
     "vivit cannot take 1 frame of 8x8 pixels: its kernels and strides need at least 2 frames and 16x16 pixels"),
])
def test_too_small_an_input_is_refused_naming_the_smallest_accepted(name, kwargs, expected):
    with pytest.raises(InputSizeError) as info:
        create_backbone(name, pretrained=False, **kwargs)
    message = str(info.value)
    assert expected in message and "--net-size" in message
    assert "leave them out for the net's own input" in message


@pytest.mark.parametrize("name, kwargs", [
    ("slowfast", dict(num_frames=8, size=8, model_kwargs={"depth": 18})),
    ("slowfast", dict(num_frames=16, size=32, model_kwargs={"depth": 18})),
    ("r2plus1d", dict(num_frames=1, size=8, model_kwargs={"depth": 18})),  # pads every stride: any size fits
    ("resnet50", dict(size=8)),
    ("i3d", dict(num_frames=9, size=193)),
    ("vivit", dict(num_frames=2, size=16, model_kwargs=TINY_VIVIT)),
])
def test_the_smallest_accepted_input_is_accepted(name, kwargs):
    create_backbone(name, pretrained=False, **kwargs)  # the check passes: no false refusal at the limit


def test_extract_refuses_a_too_small_input_before_reading_any_case(tmp_path, capsys, monkeypatch):
    from mgmtfeat.extraction import worker

    data = write_cohort(tmp_path / "brats", layout="brats2021", n_cases=1, shape=(48, 48, 24), seed=1)
    monkeypatch.setattr(worker, "read_clips", lambda *a, **k: pytest.fail("a case was read"))
    out = tmp_path / "store"
    assert extract.main(["--data", str(data), "--out", str(out), "--net", "slowfast", "--weights", "random",
                         "--net-frames", "2", "--net-size", "32", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: slowfast cannot take 2 frames of 32x32 pixels") and "at least 8 frames" in err
    assert "Traceback" not in err and not (out / "slowfast" / "cases").exists()
