"""Kinetics-400 video backbones: a registry of networks and their weights configs.

>>> from mgmtfeat.backbones import create_backbone, list_backbones
>>> list_backbones()
['i3d', 'r2plus1d', 'slowfast', 'vivit']

``create_backbone(name).extract(clips)`` maps uint8 clips of shape
(n_clips, n_frames, H, W) (150 frames in the paper) to float32 Kinetics-400 logits of shape (n_clips, 400).
Torch and transformers are imported only when a backbone is built.
"""

from mgmtfeat.backbones._cpu import native_bfloat16
from mgmtfeat.backbones._registry import Backbone, create_backbone, get_weights_config, list_backbones, register_backbone
from mgmtfeat.backbones._weights import WeightsConfig, WeightsError

__all__ = [
    "Backbone",
    "WeightsConfig",
    "WeightsError",
    "create_backbone",
    "get_weights_config",
    "list_backbones",
    "native_bfloat16",
    "register_backbone",
]
