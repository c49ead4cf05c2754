"""GluonCV's I3D ResNet-101 with ten non-local blocks (``i3d_nl10_resnet101_v1_kinetics400``).

The paper's I3D: a ResNet-101 inflated to 3D (``I3D_ResNetV1`` of GluonCV's
``i3d_resnet.py``) with embedded-Gaussian non-local blocks (``non_local.py``) after 4 blocks
of stage 2 and 6 of stage 3, Kinetics-400. Not mgmtfeat's ``i3d`` (DeepMind's Inception-I3D).
Input (N, 3, T, 224, 224), values normalised with ImageNet mean and std; output logits (N, 400).
"""

from __future__ import annotations

from mgmtfeat.backbones.gluon_store import gluon_config, load_gluon_weights
from mgmtfeat.backbones.registry import register_backbone

__all__ = ["I3D_NL10_CONFIG", "GluonI3D", "I3D_NL10_PATTERNS"]

NAME = "i3d_nl10_resnet101_v1_kinetics400"
I3D_NL10_CONFIG = gluon_config(NAME, "526a2ed07cffeab6d827ab28c979b537100cd2b3")

_STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
# depth -> (inflate, non-local) 0/1 per block of each stage, as GluonCV's i3d_nl10_resnet{50,101}
I3D_NL10_PATTERNS = {
    50: (((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
         ((0, 0, 0), (1, 1, 1, 1), (1, 1, 1, 1, 1, 1), (0, 0, 0))),
    101: (((1, 1, 1), (1, 0, 1, 0), (1, 0) * 11 + (1,), (0, 1, 0)),
          ((0, 0, 0), (1, 1, 1, 1), (0, 0, 1, 0) * 5 + (0, 0, 1), (0, 0, 0))),
}


def GluonI3D(depth: int = 101, num_classes: int = 400, dropout: float = 0.5):
    """Build GluonCV's I3D-NL10 ResNet with random weights.

    Parameters
    ----------
    depth : {50, 101}
        ResNet depth (GluonCV's ``i3d_nl10_resnet50_v1`` / ``i3d_nl10_resnet101_v1`` patterns).
    num_classes : int
        Classifier outputs.
    dropout : float
        Dropout before the classifier (inactive in eval mode).

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` maps (N, 3, T, H, W) to logits (N, num_classes); ``forward_features``
        gives the pooled embedding (N, 2048).
    """
    import torch.nn as nn

    from mgmtfeat.backbones.blocks.fuse import conv_bn_act
    from mgmtfeat.backbones.blocks.gluon import Bottleneck, fold

    if depth not in _STAGES:
        raise ValueError(f"GluonCV I3D-NL10 depth {depth} is not one of {sorted(_STAGES)}")
    inflate, nonlocal_ = I3D_NL10_PATTERNS[depth]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.first_stage = nn.Sequential(
                nn.Conv3d(3, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), bias=False), nn.BatchNorm3d(64),
                nn.ReLU(), nn.MaxPool3d((1, 3, 3), (2, 2, 2), (0, 1, 1)))
            self.pool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))
            layers, inplanes = [], 64
            for i, blocks in enumerate(_STAGES[depth]):
                planes = 64 * 2 ** i
                layers.append(nn.Sequential(*(
                    Bottleneck(inplanes if j == 0 else planes * 4, planes, stride=(2 if i and j == 0 else 1),
                               temporal_kernel=3 if inflate[i][j] else 1, downsample=j == 0,
                               nonlocal_block=i in (1, 2) and bool(nonlocal_[i][j]))
                    for j in range(blocks))))
                inplanes = planes * 4
            self.res_layers = nn.Sequential(*layers)
            self.st_avg = nn.AdaptiveAvgPool3d(1)
            self.dp = nn.Dropout(dropout)
            self.fc = nn.Linear(2048, num_classes)
            self.head = nn.Sequential(self.dp, self.fc)  # the same modules, as GluonCV registers them
            self.embedding_dim = 2048

        def fuse_for_inference(self):
            """Fold the stem's batch norm into its convolution (eval mode, inference only)."""
            if not isinstance(self.first_stage[1], nn.Identity):
                fold(self.first_stage[0], self.first_stage[1])
                self.first_stage[1] = nn.Identity()

        def forward_features(self, x):
            """Embedding (N, 2048): the last stage averaged over time and space."""
            stem = self.first_stage
            norm = None if isinstance(stem[1], nn.Identity) else stem[1]
            x = stem[3](conv_bn_act(stem[0], norm, x))
            for i, layer in enumerate(self.res_layers):
                x = layer(x)
                if i == 0:
                    x = self.pool2(x)
            return self.st_avg(x).flatten(1)

        def forward(self, x):
            return self.head(self.forward_features(x))

    return Net()


@register_backbone(NAME, I3D_NL10_CONFIG, aliases=("i3d_nl10",))
def build_gluon_i3d(config, weights, model_kwargs: dict):
    """GluonCV's I3D-NL10 ResNet-101 with its Kinetics-400 weights (model store, local file) or random."""
    model = GluonI3D(num_classes=config.num_classes, **model_kwargs)
    return model, load_gluon_weights(model, config, weights, NAME)
