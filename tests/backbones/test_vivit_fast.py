"""ViViT's inference rewrites (one QKV projection, SDPA on contiguous q/k/v) equal the network as written."""

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import create_backbone
from mgmtfeat.backbones.blocks.attention import fuse_qkv

TINY = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4)


def _vivit(**kwargs):
    return create_backbone("vivit", weights="random", num_frames=4, size=32, model_kwargs=TINY, **kwargs)


@pytest.fixture(scope="module")
def clips():
    return np.random.default_rng(0).integers(0, 256, size=(2, 150, 32, 32), dtype=np.uint8)


def test_fused_network_equals_the_network_as_written(clips):
    written, fused = _vivit(fuse=False), _vivit()
    assert type(fused.model.hf.vivit.layers[0].attention).__name__ == "FusedQKVAttention"
    for embedding in (False, True):
        a, b = written.extract(clips, embedding), fused.extract(clips, embedding)
        # the same float32 products, summed in another order (one GEMM of 3 x 64 columns instead of
        # three of 64, GELU in one kernel): rounding of values of order 1, a few float32 ulp per op,
        # grows to ~1e-6 through two layers; 1e-5 is 10x that, and a wrong head split or q/k/v order
        # changes the logits by ~1e-1
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["strided", "contiguous"])
def test_fused_attention_layouts_agree_and_save_as_written(tmp_path, clips, layout):
    written = _vivit(fuse=False)
    x = written.preprocess(clips)
    expected = written.forward(x)
    state = {k: v.clone() for k, v in written.model.hf.state_dict().items()}
    assert fuse_qkv(written.model.hf, layout) == TINY["num_hidden_layers"]
    np.testing.assert_allclose(written.forward(x), expected, atol=1e-5, rtol=1e-5)  # as above
    saved = written.model.hf.state_dict()
    assert saved.keys() == state.keys()  # q_proj, k_proj, v_proj: a fused model saves as written
    assert all(torch.equal(saved[k], state[k]) for k in state)


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout='rows' is not one of"):
        fuse_qkv(_vivit(fuse=False).model.hf, "rows")
