"""R(2+1)D R50 (Tran et al., 2018), Kinetics-400 16x4, in plain PyTorch.

Module tree and parameter names equal those of pytorchvideo's ``create_r2plus1d``,
so its published ``R2PLUS1D_16x4_R50.pyth`` (``checkpoint["model_state"]``) loads
unchanged with ``torch.load(weights_only=True)``. Input (N, 3, 16, 224, 224).
pytorchvideo's builder ends in a softmax by default; this network returns the
logits before it.
"""

from __future__ import annotations

from mgmtfeat.backbones.registry import register_backbone
from mgmtfeat.backbones.weights import WeightsConfig

__all__ = ["R2PLUS1D_CONFIG", "R2Plus1D"]

R2PLUS1D_CONFIG = WeightsConfig(
    weights_id="pytorchvideo R2PLUS1D_16x4_R50",
    source="url",
    location="https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/R2PLUS1D_16x4_R50.pyth",
    sha256=None,  # no published digest; the file's sha256 goes to provenance
    num_frames=16,
    size=224,
    resize_to=224,
    rescale=1 / 255,
    offset=0.0,
    mean=(0.45, 0.45, 0.45),
    std=(0.225, 0.225, 0.225),
    layout="NCTHW",
    classifier="blocks.5.proj",
    bf16_ccc=1.0,  # bfloat16 vs float32 logits, one case, random weights (benchmarks/bench_backbones.py)
    channels_last=True,  # channels_last_3d: 1.17x faster per clip in float32 (benchmarks/bench_backbones.py)
)


def R2Plus1D(depth: int = 50, num_classes: int = 400, dropout: float = 0.5):
    """Build an R(2+1)D ResNet with random weights.

    Parameters
    ----------
    depth : {18, 50, 101}
        ResNet depth (bottleneck blocks).
    num_classes : int
        Classifier outputs.
    dropout : float
        Dropout before the classifier (inactive in eval mode).

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` maps (N, 3, T, H, W) to logits (N, num_classes);
        ``forward_features`` gives the globally pooled embedding (N, 2048 for R50).
    """
    import torch.nn as nn

    from mgmtfeat.backbones.blocks.resnet3d import STAGE_DEPTHS, Head, ResStage, Stem, global_pool

    if depth not in STAGE_DEPTHS:
        raise ValueError(f"R(2+1)D depth {depth} is not one of {sorted(STAGE_DEPTHS)}")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            blocks = [Stem(3, 64, (1, 7, 7), (1, 2, 2))]
            temporal_strides = (1, 1, 2, 2)
            dim_in, dim_out = 64, 256
            for idx, stage_depth in enumerate(STAGE_DEPTHS[depth]):
                blocks.append(ResStage(stage_depth, dim_in, dim_out // 4, dim_out, (1, 1, 1), (3, 3, 3),
                                       (temporal_strides[idx], 2, 2), two_plus_one=True))
                dim_in, dim_out = dim_out, dim_out * 2
            self.embedding_dim = dim_in
            blocks.append(Head(dim_in, num_classes, dropout))
            self.blocks = nn.ModuleList(blocks)

        def forward_features(self, x):
            """Embedding (N, 2048): final stage features averaged over time and space."""
            for block in self.blocks[:-1]:
                x = block(x)
            return global_pool(x)

        def forward(self, x):
            return self.blocks[-1](self.forward_features(x))

    return Net()


@register_backbone("r2plus1d", R2PLUS1D_CONFIG, main=True)
def build_r2plus1d(config: WeightsConfig, weights, model_kwargs: dict):
    """R(2+1)D R50 with pytorchvideo's Kinetics-400 weights (URL, local file) or random."""
    from mgmtfeat.backbones.weight_sources import load_checkpoint_weights

    model = R2Plus1D(num_classes=config.num_classes, **model_kwargs)
    return model, load_checkpoint_weights(model, config, weights)
