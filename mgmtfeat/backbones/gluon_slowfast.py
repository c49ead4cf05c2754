"""GluonCV's SlowFast 4x16 ResNet-50 (``slowfast_4x16_resnet50_kinetics400``).

The paper's SlowFast: GluonCV's own ``SlowFast`` (``slowfast.py``), with its module names and
its Kinetics-400 weights. The same 4x16 design as mgmtfeat's ``slowfast`` (pytorchvideo), but
other weights, other module names and another slow-pathway rule: the slow pathway takes every
8th frame of the fast clip (``x[:, :, ::8]``, GluonCV's ``slow_temporal_stride // 2``).
Input (N, 3, T, 224, 224) with T a multiple of 8 (32 in GluonCV's config), ImageNet
normalisation; output logits (N, 400).
"""

from __future__ import annotations

from mgmtfeat.backbones.gluon_store import gluon_config, load_gluon_weights
from mgmtfeat.backbones.registry import register_backbone

__all__ = ["SLOWFAST_GLUON_CONFIG", "GluonSlowFast"]

NAME = "slowfast_4x16_resnet50_kinetics400"
SLOWFAST_GLUON_CONFIG = gluon_config(NAME, "1d1eadb258ccfc0c117db0ff0eaf1638d18405b3")


def GluonSlowFast(layers=(3, 4, 6, 3), num_classes: int = 400, dropout: float = 0.5):
    """Build GluonCV's SlowFast 4x16 (alpha 8, beta 1/8, fusion kernel 5) with random weights.

    Parameters
    ----------
    layers : tuple of 4 int
        Blocks per stage ((3, 4, 6, 3): ResNet-50).
    num_classes : int
        Classifier outputs.
    dropout : float
        Dropout before the classifier (inactive in eval mode).

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` maps the fast clip (N, 3, T, H, W) to logits (N, num_classes);
        ``forward_features`` gives the pooled slow and fast features concatenated (N, 2304).
    """
    import torch
    import torch.nn as nn

    from mgmtfeat.backbones.blocks.fuse import conv_bn_act
    from mgmtfeat.backbones.blocks.gluon import Bottleneck, fold

    alpha, beta, ratio, kernel, slow_stride = 8, 8, 2, 5, 8

    def stage(inplanes, planes, blocks, stride, temporal_kernel):
        return nn.Sequential(*(Bottleneck(inplanes if j == 0 else planes * 4, planes,
                                          stride=stride if j == 0 else 1, temporal_kernel=temporal_kernel,
                                          downsample=j == 0 and (stride != 1 or inplanes != planes * 4))
                               for j in range(blocks)))

    class Lateral(nn.Sequential):
        """Fast-to-slow connection: strided temporal conv, batch norm, ReLU."""

        def fuse_for_inference(self):
            """Fold the batch norm into the convolution (eval mode, inference only)."""
            if len(self) == 3:
                fold(self[0], self[1])
                del self[1:]

        def forward(self, x):
            return conv_bn_act(self[0], self[1] if len(self) == 3 else None, x)

    def lateral(channels):
        return Lateral(nn.Conv3d(channels, channels * ratio, (kernel, 1, 1), (alpha, 1, 1), (kernel // 2, 0, 0),
                                 bias=False), nn.BatchNorm3d(channels * ratio), nn.ReLU(inplace=True))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fast_conv1 = nn.Conv3d(3, 64 // beta, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False)
            self.fast_bn1 = nn.BatchNorm3d(64 // beta)
            self.fast_maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
            widths = (64, 256, 512, 1024, 2048)
            for i in range(4):
                setattr(self, f"fast_res{i + 2}", stage(widths[i] // beta, 64 * 2 ** i // beta, layers[i],
                                                        1 if i == 0 else 2, 3))
            self.lateral_p1 = lateral(64 // beta)
            for i in range(3):
                setattr(self, f"lateral_res{i + 2}", lateral(widths[i + 1] // beta))
            self.slow_conv1 = nn.Conv3d(3, 64, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False)
            self.slow_bn1 = nn.BatchNorm3d(64)
            self.slow_maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
            for i in range(4):
                inplanes = widths[i] + widths[i] * ratio // beta
                setattr(self, f"slow_res{i + 2}", stage(inplanes, 64 * 2 ** i, layers[i], 1 if i == 0 else 2,
                                                        1 if i < 2 else 3))
            self.avg = nn.AdaptiveAvgPool3d(1)
            self.dp = nn.Dropout(dropout)
            self.embedding_dim = 2048 + 2048 // beta
            self.fc = nn.Linear(self.embedding_dim, num_classes)

        def fuse_for_inference(self):
            """Fold the two stems' batch norms into their convolutions (eval mode, inference only)."""
            self.fast_bn1 = fold(self.fast_conv1, self.fast_bn1)
            self.slow_bn1 = fold(self.slow_conv1, self.slow_bn1)

        def fast_path(self, x):
            """Pooled fast features (N, 256) and the four lateral maps."""
            x = self.fast_maxpool(conv_bn_act(self.fast_conv1, self.fast_bn1, x))
            laterals = [self.lateral_p1(x)]
            for i in range(2, 6):
                x = getattr(self, f"fast_res{i}")(x)
                if i < 5:
                    laterals.append(getattr(self, f"lateral_res{i}")(x))
            return self.avg(x).flatten(1), laterals

        def slow_path(self, x, laterals):
            """Pooled slow features (N, 2048), each stage fed the fast pathway's lateral map."""
            x = self.slow_maxpool(conv_bn_act(self.slow_conv1, self.slow_bn1, x))
            for i in range(2, 6):
                x = getattr(self, f"slow_res{i}")(torch.cat((x, laterals[i - 2]), dim=1))
            return self.avg(x).flatten(1)

        def forward_features(self, x):
            """Embedding (N, 2304): pooled slow then fast features."""
            fast, laterals = self.fast_path(x)
            return torch.cat((self.slow_path(x[:, :, ::slow_stride], laterals), fast), dim=1)

        def forward(self, x):
            return self.fc(self.dp(self.forward_features(x)))

    return Net()


@register_backbone(NAME, SLOWFAST_GLUON_CONFIG, aliases=("slowfast_gluon",))
def build_gluon_slowfast(config, weights, model_kwargs: dict):
    """GluonCV's SlowFast 4x16 R50 with its Kinetics-400 weights (model store, local file) or random."""
    model = GluonSlowFast(num_classes=config.num_classes, **model_kwargs)
    return model, load_gluon_weights(model, config, weights, NAME)
