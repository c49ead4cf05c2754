"""The blocks GluonCV's PyTorch action-recognition nets share: bottleneck and non-local block.

The paper ran three nets of GluonCV's PyTorch model zoo (gluoncv 0.10.5.post0,
``gluoncv/torch/model_zoo/action_recognition``): I3D-NL10 ResNet-101, SlowFast 4x16 ResNet-50
and R(2+1)D v2 ResNet-152. Their modules are ported with GluonCV's attribute names, so a
GluonCV ``.pth`` state dict loads strictly with ``torch.load(weights_only=True)``. GluonCV
registers some modules twice (``head = Sequential(dp, fc)``, ``W_bn = Sequential(W, bn)``), so
its state dicts hold those tensors under both names; the ports do the same.

Configs and checkpoint loading are in :mod:`~mgmtfeat.backbones.gluon_store` (no torch import there).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mgmtfeat.backbones.blocks.fuse import bottleneck_branch, conv_bn_act, fold_batch_norm

__all__ = ["Bottleneck", "NonLocal", "fold", "fold_shortcut", "shortcut"]

def fold(conv: nn.Module, norm: nn.Module | None) -> None:
    """Fold ``norm`` (None: already folded) into ``conv``; returns None, the new ``norm``."""
    if norm is not None:
        fold_batch_norm(conv, norm)
    return None


def fold_shortcut(projection: nn.Sequential | None) -> nn.Sequential | None:
    """A (conv, batch norm) projection shortcut with the norm folded into the conv, as ``(conv,)``.

    The ``Sequential`` keeps GluonCV's state-dict key of the conv (``.0``); None or an already folded
    shortcut is returned as it is.
    """
    if projection is not None and len(projection) == 2:
        fold(projection[0], projection[1])
        return nn.Sequential(projection[0])
    return projection


def shortcut(projection: nn.Sequential | None, x: torch.Tensor) -> torch.Tensor:
    """The residual branch: ``x`` itself, or its projection (conv, then batch norm unless folded)."""
    if projection is None:
        return x
    return conv_bn_act(projection[0], projection[1] if len(projection) == 2 else None, x, relu=False)


class Bottleneck(nn.Module):
    """GluonCV's 3D ResNet bottleneck (I3D and SlowFast): (k,1,1) or 1x1x1, (1,3,3), 1x1x1.

    Parameters
    ----------
    inplanes, planes : int
        Input channels and inner width (output: ``4 * planes``).
    stride : int
        Spatial stride of the (1,3,3) convolution (and of the projection).
    temporal_kernel : {1, 3}
        Kernel of the first convolution over time (3: "inflated").
    downsample : bool
        Projection shortcut (``downsample.0`` conv, ``downsample.1`` batch norm).
    nonlocal_block : bool
        A non-local block after the block (I3D-NL).
    """

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, temporal_kernel=1, downsample=False, nonlocal_block=False):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.downsample = nn.Sequential(nn.Conv3d(inplanes, planes * 4, 1, (1, stride, stride), bias=False),
                                        nn.BatchNorm3d(planes * 4)) if downsample else None
        self.nonlocal_block = NonLocal(planes * 4) if nonlocal_block else None

    def fuse_for_inference(self):
        """Fold the batch norms into their convolutions (eval mode, inference only)."""
        self.bn1 = fold(self.conv1, self.bn1)
        self.bn2 = fold(self.conv2, self.bn2)
        self.bn3 = fold(self.conv3, self.bn3)
        self.downsample = fold_shortcut(self.downsample)

    def forward(self, x):
        out = bottleneck_branch(((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)), x,
                                residual=shortcut(self.downsample, x))
        return self.nonlocal_block(out) if self.nonlocal_block is not None else out


class NonLocal(nn.Module):
    """GluonCV's embedded-Gaussian non-local block (``non_local.py``), no sub-sampling, with BN.

    ``z = bn(W(y)) + x``, with ``y`` the attention of ``theta(x)`` over ``phi(x)`` (scaled by
    ``embed_dim ** -0.5``) applied to ``g(x)``; ``embed_dim = in_channels // 2``.
    """

    def __init__(self, in_channels):
        super().__init__()
        self.embed_dim = in_channels // 2
        self.theta = nn.Conv3d(in_channels, self.embed_dim, 1)
        self.phi = nn.Conv3d(in_channels, self.embed_dim, 1)
        self.g = nn.Conv3d(in_channels, self.embed_dim, 1)
        self.W = nn.Conv3d(self.embed_dim, in_channels, 1)
        self.bn = nn.BatchNorm3d(in_channels, momentum=0.9)
        self.W_bn = nn.Sequential(self.W, self.bn)  # the same modules, as GluonCV registers them

    def fuse_for_inference(self):
        """Fold the batch norm into ``W`` (eval mode, inference only)."""
        self.bn = fold(self.W, self.bn)
        self.W_bn = None

    def forward(self, x):
        n, _, t, h, w = x.shape
        # flatten, not view(n, c, -1): the same values, and a zero batch (the input-size probe) passes
        theta = self.theta(x).flatten(2)
        phi = self.phi(x).flatten(2)
        g = self.g(x).flatten(2)
        attn = F.softmax(torch.bmm(theta.transpose(1, 2), phi) * (self.embed_dim ** -.5), dim=-1)
        y = torch.bmm(g, attn.transpose(1, 2)).view(n, self.embed_dim, t, h, w)
        return conv_bn_act(self.W, self.bn, y, relu=False, residual=x)
