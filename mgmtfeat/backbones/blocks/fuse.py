"""Inference-only rewrites of the convolutional backbones: batch norms folded, ReLUs fused.

In eval mode a batch norm is a fixed affine map per channel,
``y = (x - mean) / sqrt(var + eps) * gamma + beta``, so it folds into the convolution
before it: with ``s = gamma / sqrt(var + eps)`` the folded kernel is ``w * s`` and the
bias ``(b - mean) * s + beta``. The network then runs one convolution where it ran a
convolution and a batch norm (each a full pass over the activations), and on the CPU
the ReLU (and a residual sum) is applied by oneDNN inside the convolution
(``torch.ops.mkldnn._convolution_pointwise``, the kernel TorchInductor emits for the
same pattern) instead of by one more pass.

The results equal those of the unfused network up to float32 rounding: the folded
kernel is computed in float64 and rounded once, and only the order of the roundings
changes. :func:`fuse_for_inference` is applied by :class:`~mgmtfeat.backbones.Backbone`
after the weights are loaded (the state-dict loading is unchanged); training a folded
network would be wrong, so it is only for inference.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["fold_batch_norm", "conv_act", "conv_bn_act", "bottleneck_branch", "fuse_for_inference"]


def fold_batch_norm(conv: nn.Module, bn: nn.Module) -> None:
    """Fold the eval-mode batch norm ``bn`` into ``conv`` (in place; ``conv`` gains a bias).

    ``bn`` needs ``running_mean``, ``running_var``, ``eps`` and ``bias``; its ``weight``
    (gamma) may be absent (the scale-free Sonnet batch norm of I3D).
    """
    with torch.no_grad():
        mean, var = bn.running_mean.double(), bn.running_var.double()
        scale = torch.rsqrt(var + bn.eps)
        gamma = getattr(bn, "weight", None)
        if gamma is not None:
            scale = scale * gamma.double()
        beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mean)
        bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(mean)
        dtype = conv.weight.dtype
        shape = (-1,) + (1,) * (conv.weight.ndim - 1)
        conv.weight = nn.Parameter((conv.weight.double() * scale.view(shape)).to(dtype), requires_grad=False)
        conv.bias = nn.Parameter(((bias - mean) * scale + beta).to(dtype), requires_grad=False)


def _onednn_ready(conv: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``conv`` on ``x`` can run as one oneDNN call with its ReLU / sum fused.

    Float32 on the CPU only: oneDNN's bfloat16 needs AVX-512 (elsewhere PyTorch emulates
    it on another path), and the fused operator has no autograd formula, so it is used
    only where no gradient is recorded (``Backbone.forward`` runs under inference mode).
    """
    return (x.device.type == "cpu" and x.dtype == torch.float32 and conv.weight.dtype == torch.float32
            and not torch.is_grad_enabled() and _HAS_POINTWISE and torch.backends.mkldnn.enabled
            and isinstance(conv.padding, tuple) and conv.padding_mode == "zeros")


def _has_pointwise() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    except (AttributeError, RuntimeError):
        return False


_HAS_POINTWISE = _has_pointwise()


def conv_act(conv: nn.Module, x: torch.Tensor, relu: bool = True, residual: torch.Tensor | None = None):
    """``relu(conv(x) + residual)`` (each part optional) of a convolution with folded batch norm.

    One oneDNN call with the ReLU and sum as post-ops where :func:`_onednn_ready` allows,
    otherwise the convolution followed by in-place ops on its fresh output.
    """
    if _onednn_ready(conv, x):
        args = (conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(x, *args, "relu" if relu else "none", [], "")
        # the sum post-op reads the residual in whatever memory format it has (checked in the tests);
        # after a sum, "no activation" is spelled None ("none" is refused)
        return torch.ops.mkldnn._convolution_pointwise.binary(x, residual, *args, "add", None,
                                                              "relu" if relu else None, [], None)
    y = conv(x)
    if residual is not None:
        y = y.add_(residual)
    return F.relu_(y) if relu else y


def conv_bn_act(conv: nn.Module, norm: nn.Module | None, x: torch.Tensor, relu: bool = True,
                residual: torch.Tensor | None = None):
    """``relu(norm(conv(x)) + residual)``; ``norm`` None means it was folded into ``conv``.

    The unfolded path is the network as written, op by op (new tensors, no in-place
    ops): the reference the fused one is compared with.
    """
    if norm is None:
        return conv_act(conv, x, relu, residual)
    y = norm(conv(x))
    if residual is not None:
        y = residual + y
    return F.relu(y) if relu else y


def bottleneck_branch(layers, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """The main branch of a ResNet bottleneck: each ``(conv, norm)`` of ``layers`` in turn with its
    ReLU (:func:`conv_bn_act`), ``residual`` added before the last ReLU.

    Parameters
    ----------
    layers : sequence of (torch.nn.Module, torch.nn.Module or None)
        The convolutions in order, each with its batch norm (None where folded).
    x : torch.Tensor
        The block's input.
    residual : torch.Tensor
        The shortcut branch, of the last convolution's output shape.
    """
    *inner, (conv, norm) = layers
    for inner_conv, inner_norm in inner:
        x = conv_bn_act(inner_conv, inner_norm, x)
    return conv_bn_act(conv, norm, x, residual=residual)


def fuse_for_inference(model: nn.Module) -> int:
    """Call ``fuse_for_inference()`` on every submodule defining it; returns how many did.

    Each such module folds its own batch norms (:func:`fold_batch_norm`) and switches to
    its fused forward. ``model`` must be in eval mode: folding uses the running
    statistics, which a training-mode batch norm would not.
    """
    if model.training:
        raise ValueError("fuse_for_inference needs a model in eval mode (batch norms use running statistics)")
    fused = 0
    for module in list(model.modules()):
        hook = getattr(type(module), "fuse_for_inference", None)
        if hook is not None:
            hook(module)
            fused += 1
    return fused
