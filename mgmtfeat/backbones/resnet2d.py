"""ResNet-50 (He et al., 2016; torchvision's "v1.5", stride in the 3x3 conv), ImageNet, for single slices.

A plain-PyTorch network whose parameter names are torchvision's ``resnet50``
(``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight`` ... ``layer4.2.bn3.*``,
``layer1.0.downsample.0.weight``, ``fc.weight``), which timm's ``resnet50`` uses too, so
a torchvision ``resnet50-*.pth`` or timm ``model.safetensors`` (e.g.
``timm/resnet50.a1_in1k``) state dict loads unchanged. Checkpoints saved without the
batch-norm counters ``num_batches_tracked`` (old torchvision files, some timm exports)
get them filled in with 0 (they play no part at inference).

Output: the 2048-d globally pooled embedding (``return_embedding=True``; the slice
features) or the 1000 ImageNet logits.
"""

from __future__ import annotations

from pathlib import Path

from mgmtfeat.backbones.registry import register_backbone
from mgmtfeat.backbones.weights import WeightsConfig

__all__ = ["RESNET50_CONFIG", "ResNet", "torchvision_filter"]

HF_REPO_ID = "timm/resnet50.a1_in1k"

RESNET50_CONFIG = WeightsConfig(
    weights_id=HF_REPO_ID,
    source="hf",
    location=HF_REPO_ID,
    sha256=None,  # Hugging Face checks file digests itself; the file's sha256 goes to provenance
    num_frames=1,
    size=224,
    resize_to=224,  # a 128-px slice is scaled up to 224 whole: no crop, so the tumour box stays in
    rescale=1 / 255,
    offset=0.0,
    mean=(0.485, 0.456, 0.406),  # ImageNet statistics (torchvision and timm)
    std=(0.229, 0.224, 0.225),
    layout="NCHW",
    classifier="fc",
    num_classes=1000,
    class_names=None,  # ImageNet-1k logits are numbered
    kind="image",
)

# blocks per stage
_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

_HOW_TO = (f"pass --weights PATH (weights=PATH in Python) naming a torchvision resnet50 .pth or a timm resnet50 .safetensors file, or put "
           f"{HF_REPO_ID} in the Hugging Face cache (`huggingface-cli download {HF_REPO_ID}` on a machine "
           "with network access)")


def ResNet(depth: int = 50, num_classes: int = 1000, width: int = 64):
    """Build a 2D bottleneck ResNet with torchvision's parameter names and random weights.

    Parameters
    ----------
    depth : {50, 101}
        Number of layers.
    num_classes : int
        Outputs of ``fc``.
    width : int
        Channels of the stem (64 for the published networks; smaller for quick tests).

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` maps (N, 3, H, W) to logits (N, num_classes);
        ``forward_features`` gives the globally averaged embedding (N, 32 * width),
        2048 for ResNet-50.
    """
    import torch.nn as nn

    from mgmtfeat.backbones.blocks.fuse import bottleneck_branch, conv_bn_act, fold_batch_norm

    if depth not in _DEPTHS:
        raise ValueError(f"ResNet depth {depth} is not one of {sorted(_DEPTHS)}")

    def fold(conv, bn):
        """Fold ``bn`` (None: already folded) into ``conv``; None, the new ``bn`` attribute."""
        if bn is not None:
            fold_batch_norm(conv, bn)
        return None

    class Bottleneck(nn.Module):
        """1x1 reduce, 3x3 (strided) conv, 1x1 expand, plus shortcut, then ReLU."""

        def __init__(self, cin, inner, stride):
            super().__init__()
            cout = inner * 4
            self.conv1 = nn.Conv2d(cin, inner, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(inner)
            self.conv2 = nn.Conv2d(inner, inner, 3, stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(inner)
            self.conv3 = nn.Conv2d(inner, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                               if stride != 1 or cin != cout else None)

        def fuse_for_inference(self):
            """Fold the batch norms into their convolutions (eval mode, inference only)."""
            self.bn1, self.bn2, self.bn3 = (fold(self.conv1, self.bn1), fold(self.conv2, self.bn2),
                                            fold(self.conv3, self.bn3))
            if self.downsample is not None and len(self.downsample) == 2:
                fold(self.downsample[0], self.downsample[1])
                self.downsample = nn.Sequential(self.downsample[0])  # keeps the key downsample.0

        def forward(self, x):
            # folded (``bn`` None): one fused convolution each, the sum and ReLU inside the last
            shortcut = x if self.downsample is None else self.downsample(x)
            return bottleneck_branch(((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)), x,
                                     residual=shortcut)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, 2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.maxpool = nn.MaxPool2d(3, 2, padding=1)
            cin = width
            for idx, blocks in enumerate(_DEPTHS[depth]):
                inner = width * 2 ** idx
                stage = [Bottleneck(cin if b == 0 else inner * 4, inner, 2 if b == 0 and idx > 0 else 1)
                         for b in range(blocks)]
                setattr(self, f"layer{idx + 1}", nn.Sequential(*stage))
                cin = inner * 4
            self.embedding_dim = cin
            self.fc = nn.Linear(cin, num_classes)

        def fuse_for_inference(self):
            """Fold the stem's batch norm into its convolution (eval mode, inference only)."""
            self.bn1 = fold(self.conv1, self.bn1)

        def forward_features(self, x):
            """Embedding (N, 2048): the last stage's features averaged over space."""
            x = self.maxpool(conv_bn_act(self.conv1, self.bn1, x))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return x.mean(dim=(2, 3))

        def forward(self, x):
            return self.fc(self.forward_features(x))

    return Net()


def torchvision_filter(checkpoint):
    """State dict of a torchvision/timm ResNet checkpoint, with ``num_batches_tracked`` filled in.

    Accepts the bare state dict or one nested under ``"state_dict"`` / ``"model"``
    (training checkpoints); a ``"module."`` prefix (DataParallel) is removed.
    """
    import torch

    for key in ("state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    state = {k.removeprefix("module."): v for k, v in checkpoint.items()}
    for key in [k for k in state if k.endswith(".running_mean")]:
        state.setdefault(key.replace(".running_mean", ".num_batches_tracked"), torch.tensor(0))
    return state


def _load_file(path: Path) -> tuple[dict, str]:
    """(state dict, sha256) of a ``.safetensors`` or torch file."""
    from mgmtfeat.backbones.weights import load_safetensors, load_torch_checkpoint, sha256_file

    if path.suffix == ".safetensors":
        return load_safetensors(path, fix=_HOW_TO)
    return load_torch_checkpoint(path), sha256_file(path)


@register_backbone("resnet50", RESNET50_CONFIG, main=True)
def build_resnet50(config: WeightsConfig, weights, model_kwargs: dict):
    """ResNet-50 with ImageNet weights from a local file or the Hugging Face cache, or random.

    Nothing is downloaded: ``weights=None`` looks for ``model.safetensors`` of
    ``config.location`` in the Hugging Face cache.
    """
    from mgmtfeat.backbones.weight_sources import resolve_weights
    from mgmtfeat.backbones.weights import load_state_dict_strict

    model = ResNet(num_classes=config.num_classes, **model_kwargs)
    found = resolve_weights(config, weights, what="ResNet-50 weights" + (" file" if weights else ""),
                            how_to=_HOW_TO, hf_file="model.safetensors")
    if found.random:
        return model, found.info()
    path = found.path
    # the Hugging Face id carries the snapshot (commit); a local file is named as such
    weights_id = found.weights_id if found.kind == "hf" else f"resnet50 (local {path.name})"
    state, digest = _load_file(path)
    load_state_dict_strict(model, torchvision_filter(state), str(path))
    return model, {"weights_id": weights_id, "sha256": digest, "random": False}
