"""3D ResNet building blocks whose parameter names match pytorchvideo's.

SlowFast and R(2+1)D are assembled from these blocks so that pytorchvideo's
published Kinetics-400 checkpoints (``checkpoint["model_state"]``) load unchanged:
same attribute names (``blocks.N.res_blocks.M.branch2.conv_a`` ...), same shapes.
pytorchvideo's parameter-free ``nn.ReLU`` modules are functional ReLUs here.

Each block has a ``fuse_for_inference`` method (see :mod:`~mgmtfeat.backbones.blocks.fuse`):
it folds its batch norms into the convolutions (a folded norm is set to None) so that
each convolution runs with its ReLU and residual sum fused.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mgmtfeat.backbones.blocks.fuse import conv_bn_act, fold_batch_norm

STAGE_DEPTHS = {18: (1, 1, 1, 1), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def batch_norm3d(channels: int) -> nn.BatchNorm3d:
    """pytorchvideo's batch norm over ``channels`` channels (eps 1e-5, momentum 0.1)."""
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)


def fold_norm(conv: nn.Conv3d, norm: nn.BatchNorm3d | None) -> None:
    """Fold ``norm`` (None: already folded) into ``conv``; returns None, the block's new ``norm``."""
    if norm is not None:
        fold_batch_norm(conv, norm)
    return None


class Stem(nn.Module):
    """Conv, batch norm, ReLU and optional max pool (pytorchvideo ``ResNetBasicStem``)."""

    def __init__(self, cin, cout, kernel, stride, pool_kernel=None, pool_stride=None):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, padding=[k // 2 for k in kernel], bias=False)
        self.norm = batch_norm3d(cout)
        self.pool = (nn.MaxPool3d(pool_kernel, pool_stride, padding=[k // 2 for k in pool_kernel])
                     if pool_kernel else None)

    def fuse_for_inference(self):
        """Fold the batch norm into the convolution (eval mode, inference only)."""
        self.norm = fold_norm(self.conv, self.norm)

    def forward(self, x):
        x = conv_bn_act(self.conv, self.norm, x)
        return self.pool(x) if self.pool is not None else x


class Conv2plus1d(nn.Module):
    """Temporal (k, 1, 1) conv, batch norm, ReLU, then spatial (1, k, k) conv."""

    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv_t = nn.Conv3d(cin, cout, (kernel[0], 1, 1), (stride[0], 1, 1),
                                padding=(kernel[0] // 2, 0, 0), bias=False)
        self.norm = batch_norm3d(cout)
        self.conv_xy = nn.Conv3d(cout, cout, (1, kernel[1], kernel[2]), (1, stride[1], stride[2]),
                                 padding=(0, kernel[1] // 2, kernel[2] // 2), bias=False)

    def fuse_for_inference(self):
        """Fold the batch norm into the temporal convolution (eval mode, inference only)."""
        self.norm = fold_norm(self.conv_t, self.norm)

    def temporal(self, x):
        """The temporal half: conv, batch norm, ReLU (``conv_xy`` follows)."""
        return conv_bn_act(self.conv_t, self.norm, x)

    def forward(self, x):
        return self.conv_xy(self.temporal(x))


class Bottleneck(nn.Module):
    """1x1 (or Tx1x1) reduce, spatial (or (2+1)D) conv, 1x1 expand, each with batch norm."""

    def __init__(self, cin, inner, cout, a_kernel, b_kernel, b_stride, two_plus_one=False):
        super().__init__()
        self.conv_a = nn.Conv3d(cin, inner, a_kernel, padding=[k // 2 for k in a_kernel], bias=False)
        self.norm_a = batch_norm3d(inner)
        if two_plus_one:
            self.conv_b = Conv2plus1d(inner, inner, b_kernel, b_stride)
        else:
            self.conv_b = nn.Conv3d(inner, inner, b_kernel, b_stride,
                                    padding=[k // 2 for k in b_kernel], bias=False)
        self.norm_b = batch_norm3d(inner)
        self.conv_c = nn.Conv3d(inner, cout, 1, bias=False)
        self.norm_c = batch_norm3d(cout)

    def _last_b(self):
        """The convolution ``norm_b`` follows: ``conv_b`` or, for (2+1)D, its spatial half."""
        return self.conv_b.conv_xy if isinstance(self.conv_b, Conv2plus1d) else self.conv_b

    def fuse_for_inference(self):
        """Fold the three batch norms into their convolutions (eval mode, inference only)."""
        self.norm_a = fold_norm(self.conv_a, self.norm_a)
        self.norm_b = fold_norm(self._last_b(), self.norm_b)
        self.norm_c = fold_norm(self.conv_c, self.norm_c)

    def forward(self, x, shortcut=None):
        """The bottleneck's output; given ``shortcut``, ``relu(output + shortcut)`` (the whole block)."""
        x = conv_bn_act(self.conv_a, self.norm_a, x)
        if isinstance(self.conv_b, Conv2plus1d):
            x = self.conv_b.temporal(x)
        x = conv_bn_act(self._last_b(), self.norm_b, x)
        # the residual sum and ReLU go into the last convolution when it is fused
        return conv_bn_act(self.conv_c, self.norm_c, x, relu=shortcut is not None, residual=shortcut)


class ResBlock(nn.Module):
    """Bottleneck plus shortcut (a strided 1x1x1 projection when shapes change), then ReLU."""

    def __init__(self, cin, inner, cout, a_kernel, b_kernel, b_stride, two_plus_one=False):
        super().__init__()
        if cin != cout or any(s != 1 for s in b_stride):
            self.branch1_conv = nn.Conv3d(cin, cout, 1, b_stride, bias=False)
            self.branch1_norm = batch_norm3d(cout)
        else:
            self.branch1_conv = self.branch1_norm = None
        self.branch2 = Bottleneck(cin, inner, cout, a_kernel, b_kernel, b_stride, two_plus_one)

    def fuse_for_inference(self):
        """Fold the projection's batch norm (the bottleneck folds its own; eval mode, inference only)."""
        if self.branch1_conv is not None:
            self.branch1_norm = fold_norm(self.branch1_conv, self.branch1_norm)

    def forward(self, x):
        shortcut = x if self.branch1_conv is None else conv_bn_act(self.branch1_conv, self.branch1_norm, x,
                                                                   relu=False)
        return self.branch2(x, shortcut)


class ResStage(nn.Module):
    """``depth`` residual blocks; the first one changes width and stride.

    ``a_kernels`` is one kernel or a list cycled over the blocks (pytorchvideo's rule).
    """

    def __init__(self, depth, cin, inner, cout, a_kernels, b_kernel, b_stride, two_plus_one=False):
        super().__init__()
        if isinstance(a_kernels[0], int):
            a_kernels = [a_kernels]
        a_kernels = (list(a_kernels) * depth)[:depth]
        self.res_blocks = nn.ModuleList(
            ResBlock(cin if i == 0 else cout, inner, cout, a_kernels[i], b_kernel,
                     b_stride if i == 0 else (1, 1, 1), two_plus_one)
            for i in range(depth)
        )

    def forward(self, x):
        for block in self.res_blocks:
            x = block(x)
        return x


class Head(nn.Module):
    """Global average pool, dropout, linear classifier (pytorchvideo ``ResNetBasicHead``).

    pytorchvideo pools with a fixed kernel equal to the feature map at the
    training input size and then averages the logits globally; pooling globally
    first gives the same logits at that size (the classifier is linear) and also
    works at other input sizes.
    """

    def __init__(self, cin, num_classes, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.proj = nn.Linear(cin, num_classes)

    def forward(self, features):
        x = self.dropout(features) if self.dropout is not None else features
        return self.proj(x)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, C), mean over time and space."""
    return x.mean(dim=(2, 3, 4))
