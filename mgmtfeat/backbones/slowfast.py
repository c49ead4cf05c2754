"""SlowFast R50 (Feichtenhofer et al., 2019), Kinetics-400, in plain PyTorch.

The module tree and parameter names equal those of pytorchvideo's
``create_slowfast``, so pytorchvideo's published checkpoints
(``SLOWFAST_4x16_R50.pyth``, ``SLOWFAST_8x8_R50.pyth``; ``checkpoint["model_state"]``)
load unchanged with ``torch.load(weights_only=True)``.

Variants (T x tau: slow-pathway frames x temporal stride in the original video):

* ``slowfast`` = 4x16: slow 4 frames, fast 32 frames (alpha = 8), fusion kernel 5
  (the variant the paper used);
* ``slowfast_8x8``: slow 8 frames, fast 32 frames (alpha = 4), fusion kernel 7
  (pytorchvideo's hub ``slowfast_r50``).

The input is the fast-pathway clip (N, 3, 32, 224, 224); the slow pathway takes
every alpha-th frame of it (pytorchvideo's ``PackPathway``: ``linspace`` indices).
"""

from __future__ import annotations

from mgmtfeat.backbones.registry import register_backbone
from mgmtfeat.backbones.weights import WeightsConfig

__all__ = ["SLOWFAST_4x16_CONFIG", "SLOWFAST_8x8_CONFIG", "SlowFast", "pack_pathways"]

_MODEL_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
_COMMON = dict(
    source="url", sha256=None,  # pytorchvideo publishes no digests; the file's sha256 goes to provenance
    num_frames=32, size=224, resize_to=224, rescale=1 / 255, offset=0.0,
    mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), layout="NCTHW", classifier="blocks.6.proj",
    channels_last=True,  # channels_last_3d: 1.18x faster per clip in float32 (benchmarks/bench_backbones.py)
)
# bf16_ccc: bfloat16 vs float32 logits of one case (benchmarks/bench_backbones.py, random weights:
# no download here); 8x8 was not measured, so dtype="auto" keeps it in float32
SLOWFAST_4x16_CONFIG = WeightsConfig(weights_id="pytorchvideo SLOWFAST_4x16_R50",
                                     location=f"{_MODEL_ZOO}/SLOWFAST_4x16_R50.pyth", bf16_ccc=1.0, **_COMMON)
SLOWFAST_8x8_CONFIG = WeightsConfig(weights_id="pytorchvideo SLOWFAST_8x8_R50",
                                    location=f"{_MODEL_ZOO}/SLOWFAST_8x8_R50.pyth", **_COMMON)
# variant -> (alpha, fusion kernel)
_VARIANTS = {"4x16": (8, 5), "8x8": (4, 7)}


def pack_pathways(x, alpha: int):
    """[slow, fast] from the fast clip (N, C, T, H, W): slow = T // alpha evenly spaced frames."""
    import torch

    t = x.shape[2]
    idx = torch.linspace(0, t - 1, t // alpha, device=x.device).long()
    return [x.index_select(2, idx), x]


def SlowFast(variant: str = "4x16", depth: int = 50, num_classes: int = 400, dropout: float = 0.5,
             beta: int = 8, fusion_ratio: int = 2):
    """Build a SlowFast ResNet with random weights.

    Parameters
    ----------
    variant : {"4x16", "8x8"}
        Sets alpha (fast/slow frame ratio) and the fusion kernel (see module docstring).
    depth : {18, 50, 101}
        ResNet depth.
    num_classes : int
        Classifier outputs.
    dropout : float
        Dropout before the classifier (inactive in eval mode).
    beta : int
        Fast pathway channel reduction ratio.
    fusion_ratio : int
        Channel ratio of the fast-to-slow lateral connections.

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` takes the fast clip (N, 3, T, H, W) or ``[slow, fast]`` and
        returns logits (N, num_classes); ``forward_features`` the pooled, concatenated
        embedding (N, 2048 + 256 for R50).
    """
    import torch
    import torch.nn as nn

    from mgmtfeat.backbones.blocks.fuse import conv_bn_act
    from mgmtfeat.backbones.blocks.resnet3d import (STAGE_DEPTHS, Head, ResStage, Stem, batch_norm3d, fold_norm,
                                                    global_pool)

    if variant not in _VARIANTS:
        raise ValueError(f"SlowFast variant {variant!r} is not one of {sorted(_VARIANTS)}")
    if depth not in STAGE_DEPTHS:
        raise ValueError(f"SlowFast depth {depth} is not one of {sorted(STAGE_DEPTHS)}")
    alpha, fusion_kernel = _VARIANTS[variant]

    class FuseFastToSlow(nn.Module):
        """Strided temporal conv from the fast to the slow pathway, concatenated to the slow one."""

        def __init__(self, dim_fast):
            super().__init__()
            self.conv_fast_to_slow = nn.Conv3d(dim_fast, dim_fast * fusion_ratio, (fusion_kernel, 1, 1),
                                               (alpha, 1, 1), padding=(fusion_kernel // 2, 0, 0), bias=False)
            self.norm = batch_norm3d(dim_fast * fusion_ratio)

        def fuse_for_inference(self):
            """Fold the batch norm into the fusion convolution (eval mode, inference only)."""
            self.norm = fold_norm(self.conv_fast_to_slow, self.norm)

        def forward(self, x):
            fuse = conv_bn_act(self.conv_fast_to_slow, self.norm, x[1])
            return [torch.cat([x[0], fuse], 1), x[1]]

    class MultiPathWayWithFuse(nn.Module):
        def __init__(self, blocks, fusion):
            super().__init__()
            self.multipathway_blocks = nn.ModuleList(blocks)
            self.multipathway_fusion = fusion

        def forward(self, x):
            x = [block(xi) for block, xi in zip(self.multipathway_blocks, x)]
            return self.multipathway_fusion(x) if self.multipathway_fusion is not None else x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = alpha
            stems = [Stem(3, 64, (1, 7, 7), (1, 2, 2), (1, 3, 3), (1, 2, 2)),
                     Stem(3, 64 // beta, (5, 7, 7), (1, 2, 2), (1, 3, 3), (1, 2, 2))]
            blocks = [MultiPathWayWithFuse(stems, FuseFastToSlow(64 // beta))]
            slow_a = ((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1))
            dim_in, dim_out = 64, 256
            for idx, stage_depth in enumerate(STAGE_DEPTHS[depth]):
                stride = (1, 1, 1) if idx == 0 else (1, 2, 2)
                slow = ResStage(stage_depth, dim_in + dim_in * fusion_ratio // beta, dim_out // 4,
                                dim_out, slow_a[idx], (1, 3, 3), stride)
                fast = ResStage(stage_depth, dim_in // beta, dim_out // 4 // beta, dim_out // beta,
                                (3, 1, 1), (1, 3, 3), stride)
                last = idx == len(STAGE_DEPTHS[depth]) - 1
                # pytorchvideo puts an Identity (no parameters) after the last stage
                blocks.append(MultiPathWayWithFuse([slow, fast], nn.Identity() if last
                                                   else FuseFastToSlow(dim_out // beta)))
                dim_in, dim_out = dim_out, dim_out * 2
            # blocks.5 is pytorchvideo's PoolConcatPathway (no parameters)
            blocks.append(nn.Identity())
            self.embedding_dim = dim_in + dim_in // beta
            blocks.append(Head(self.embedding_dim, num_classes, dropout))
            self.blocks = nn.ModuleList(blocks)

        def forward_features(self, x):
            """Embedding (N, C_slow + C_fast): each pathway's final features averaged globally."""
            if not isinstance(x, (list, tuple)):
                x = pack_pathways(x, self.alpha)
            for block in self.blocks[:5]:
                x = block(x)
            return torch.cat([global_pool(xi) for xi in x], dim=1)

        def forward(self, x):
            return self.blocks[6](self.forward_features(x))

    return Net()


def _build(variant):
    def build(config: WeightsConfig, weights, model_kwargs: dict):
        from mgmtfeat.backbones.weight_sources import load_checkpoint_weights

        model = SlowFast(variant=variant, num_classes=config.num_classes, **model_kwargs)
        return model, load_checkpoint_weights(model, config, weights)

    return build


register_backbone("slowfast", SLOWFAST_4x16_CONFIG, main=True)(_build("4x16"))
register_backbone("slowfast_8x8", SLOWFAST_8x8_CONFIG)(_build("8x8"))
