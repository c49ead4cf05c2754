"""Torch building blocks the backbone families assemble; no family is defined here.

The registry imports every public module of :mod:`mgmtfeat.backbones` to find the families, but not this
subpackage: these modules import torch at the top and register nothing, and a family imports them only
when it builds its network.

- :mod:`~mgmtfeat.backbones.blocks.fuse`: inference rewrites (batch norms folded, ReLUs fused).
- :mod:`~mgmtfeat.backbones.blocks.resnet3d`: pytorchvideo's 3D ResNet blocks (SlowFast, R(2+1)D).
- :mod:`~mgmtfeat.backbones.blocks.gluon`: GluonCV's bottleneck and non-local blocks.
- :mod:`~mgmtfeat.backbones.blocks.attention`: ViViT's encoder attention rewritten for inference.
"""
