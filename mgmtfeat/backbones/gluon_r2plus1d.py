"""GluonCV's R(2+1)D v2 ResNet-152 (``r2plus1d_v2_resnet152_kinetics400``, IRCSN in the paper's tables).

The paper's third CNN: ``ResNet_R2plus1Dv2`` of GluonCV's ``r2plus1dv2.py`` (the VMZ
R(2+1)D-152 ported to PyTorch) with its Kinetics-400 weights. Every bottleneck factorises its
3x3x3 convolution into a spatial (1,3,3) and a temporal (3,1,1) one with a widened middle
(``conv2_middle``); batch norms use eps 1e-3, as GluonCV's (its ``USE_AFFINE`` default is off).
Not mgmtfeat's ``r2plus1d`` (pytorchvideo's R50). Input (N, 3, T, 224, 224), ImageNet
normalisation; output logits (N, 400).
"""

from __future__ import annotations

from mgmtfeat.backbones.gluon_store import gluon_config, load_gluon_weights
from mgmtfeat.backbones.registry import register_backbone

__all__ = ["R2PLUS1D_V2_CONFIG", "GluonR2Plus1D"]

NAME = "r2plus1d_v2_resnet152_kinetics400"
R2PLUS1D_V2_CONFIG = gluon_config(NAME, "42707ffcab518cdda93523004360de167863c5d8", classifier="out_fc")
_EPS = 1e-3  # GluonCV's r2plus1dv2.py


def GluonR2Plus1D(layers=(3, 8, 36, 3), num_classes: int = 400):
    """Build GluonCV's R(2+1)D v2 ResNet with random weights.

    Parameters
    ----------
    layers : tuple of 4 int
        Blocks per stage ((3, 8, 36, 3): ResNet-152, GluonCV's ``block_nums``).
    num_classes : int
        Classifier outputs.

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` maps (N, 3, T, H, W) to logits (N, num_classes); ``forward_features``
        gives the pooled embedding (N, 2048).
    """
    import torch.nn as nn

    from mgmtfeat.backbones.blocks.fuse import bottleneck_branch, conv_bn_act
    from mgmtfeat.backbones.blocks.gluon import fold, fold_shortcut, shortcut

    def bn(channels):
        return nn.BatchNorm3d(channels, eps=_EPS)

    class Bottleneck(nn.Module):
        """1x1x1, spatial (1,3,3) to the middle width, temporal (3,1,1), 1x1x1; each with batch norm."""

        def __init__(self, inplanes, planes, middle, stride=1, temporal_stride=1, down_sample=False):
            super().__init__()
            self.conv1 = nn.Conv3d(inplanes, planes, 1, bias=False)
            self.bn1 = bn(planes)
            self.conv2_middle = nn.Conv3d(planes, middle, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
            self.bn2_middle = bn(middle)
            self.conv2 = nn.Conv3d(middle, planes, (3, 1, 1), (temporal_stride, 1, 1), (1, 0, 0), bias=False)
            self.bn2 = bn(planes)
            self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
            self.bn3 = bn(planes * 4)
            self.down_sample = nn.Sequential(
                nn.Conv3d(inplanes, planes * 4, 1, (temporal_stride, stride, stride), bias=False),
                bn(planes * 4)) if down_sample else None

        def fuse_for_inference(self):
            """Fold the batch norms into their convolutions (eval mode, inference only)."""
            for conv, norm in (("conv1", "bn1"), ("conv2_middle", "bn2_middle"), ("conv2", "bn2"), ("conv3", "bn3")):
                setattr(self, norm, fold(getattr(self, conv), getattr(self, norm)))
            self.down_sample = fold_shortcut(self.down_sample)

        def forward(self, x):
            layers = ((self.conv1, self.bn1), (self.conv2_middle, self.bn2_middle), (self.conv2, self.bn2),
                      (self.conv3, self.bn3))
            return bottleneck_branch(layers, x, residual=shortcut(self.down_sample, x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1_middle = nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False)
            self.bn1_middle = bn(45)
            self.conv1 = nn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False)
            self.bn1 = bn(64)
            inplanes = 64
            for i, blocks in enumerate(layers):
                planes, middle, stride = 64 * 2 ** i, 144 * 2 ** i, 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn.Sequential(*(
                    Bottleneck(inplanes if j == 0 else planes * 4, planes, middle, stride if j == 0 else 1,
                               stride if j == 0 else 1, down_sample=j == 0)
                    for j in range(blocks))))
                inplanes = planes * 4
            self.avgpool = nn.AdaptiveAvgPool3d(1)
            self.out_fc = nn.Linear(2048, num_classes)
            self.embedding_dim = 2048

        def fuse_for_inference(self):
            """Fold the stem's batch norms into its two convolutions (eval mode, inference only)."""
            self.bn1_middle = fold(self.conv1_middle, self.bn1_middle)
            self.bn1 = fold(self.conv1, self.bn1)

        def forward_features(self, x):
            """Embedding (N, 2048): the last stage averaged over time and space."""
            x = conv_bn_act(self.conv1_middle, self.bn1_middle, x)
            x = conv_bn_act(self.conv1, self.bn1, x)
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
            return self.avgpool(x).flatten(1)

        def forward(self, x):
            return self.out_fc(self.forward_features(x))

    return Net()


@register_backbone(NAME, R2PLUS1D_V2_CONFIG, aliases=("r2plus1d_v2", "ircsn"))
def build_gluon_r2plus1d(config, weights, model_kwargs: dict):
    """GluonCV's R(2+1)D v2 R152 with its Kinetics-400 weights (model store, local file) or random."""
    model = GluonR2Plus1D(num_classes=config.num_classes, **model_kwargs)
    return model, load_gluon_weights(model, config, weights, NAME)
