"""Step 3, video (Kinetics-400) and image (2D) backbones: a registry of networks and their weights configs.

>>> from mgmtfeat.backbones import create_backbone, list_backbones
>>> list_backbones()
['i3d', 'r2plus1d', 'slowfast', 'vivit']
>>> list_backbones(kind="image")
['i3d2d', 'resnet50']

``create_backbone(name).extract(clips)`` maps uint8 clips of shape
(n_clips, n_frames, H, W) (150 frames in the paper) to float32 Kinetics-400 logits of shape (n_clips, 400).
An image network maps uint8 slices (n_slices, H, W) to its logits or, with
``return_embedding=True``, its pooled embedding. Torch and transformers are imported
only when a backbone is built.
"""

from mgmtfeat.backbones.cpu import native_bfloat16
from mgmtfeat.backbones.devices import check_device, native_bfloat16_on
from mgmtfeat.backbones.registry import (
    Backbone,
    canonical_name,
    check_backbone_kind,
    create_backbone,
    get_weights_config,
    list_backbones,
    paper_backbones,
    register_backbone,
    resolve_dtype,
)
from mgmtfeat.backbones.weights import WeightsConfig, WeightsError

__all__ = [
    "Backbone",
    "WeightsConfig",
    "canonical_name",
    "paper_backbones",
    "WeightsError",
    "check_backbone_kind",
    "create_backbone",
    "get_weights_config",
    "list_backbones",
    "native_bfloat16",
    "native_bfloat16_on",
    "check_device",
    "register_backbone",
    "resolve_dtype",
]
