"""A 2D Inception-v1 "deflated" from the Kinetics-400 I3D weights: real pretrained features per slice.

I3D was built by inflating 2D ImageNet kernels over time. The reverse holds exactly for
a static clip: when every frame is the same image, a Conv3d with kernel ``w[:, :, t]``
gives, at every time position whose receptive field stays inside the clip, the Conv2d
with kernel ``sum_t w[:, :, t]`` (the zero padding at the clip's ends is the only thing
that breaks it). Temporal max pools of a constant are identities, temporal strides
subsample a constant, and the final (2, 7, 7) average pool becomes a (7, 7) one. So
this network is I3D with every kernel summed over time, and its features of one slice
equal I3D's features of that slice repeated, away from the clip's temporal borders
(``tests/backbones/test_i3d2d.py`` checks it with the real weights).

Outputs: the 1024-d pooled embedding (``return_embedding=True``) and the 400
Kinetics-400 logits of a slice. Input: grey uint8 slices, preprocessed as I3D's frames
(224 x 224, values in [-1, 1]).
"""

from __future__ import annotations

import dataclasses

from mgmtfeat.backbones.registry import register_backbone
from mgmtfeat.backbones.i3d import I3D_CONFIG, build_i3d, inception_i3d_class

__all__ = ["I3D2D_CONFIG", "InceptionV1Deflated", "deflate_i3d_state"]

I3D2D_CONFIG = dataclasses.replace(
    I3D_CONFIG,
    weights_id=f"{I3D_CONFIG.weights_id}, deflated to 2D (kernels summed over time)",
    kind="image",
    num_frames=1,
    layout="NCHW",
    bf16_ccc=None,  # not measured for the 2D network: dtype="auto" keeps float32
    channels_last=False,
)


def InceptionV1Deflated(num_classes: int = 400):
    """Build the 2D Inception-v1 with I3D's parameter names and random weights.

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` maps (N, 3, H, W) in [-1, 1] to logits (N, num_classes);
        ``forward_features`` gives the pooled embedding (N, 1024); ``features`` the
        Mixed_5c map (N, 1024, H / 32, W / 32).
    """
    return inception_i3d_class(dims=2)(num_classes)


def deflate_i3d_state(state: dict) -> dict:
    """2D state dict from an I3D one: each 5D conv kernel (out, in, T, H, W) summed over T.

    Every other tensor (batch-norm statistics, biases) is copied as it is.
    """
    return {key: value.sum(dim=2) if value.ndim == 5 else value.clone() for key, value in state.items()}


@register_backbone("i3d2d", I3D2D_CONFIG, main=True)
def build_i3d2d(config, weights, model_kwargs: dict):
    """The deflated network from the I3D weights (package default, a local I3D file, or random).

    ``weights`` takes what the ``i3d`` backbone takes; the I3D network is built and
    loaded first (sha256-checked, cached conversion), then deflated.
    """
    from mgmtfeat.backbones.weights import load_state_dict_strict

    video, info = build_i3d(dataclasses.replace(config, kind="video", num_frames=32, layout="NCTHW"), weights, {})
    model = InceptionV1Deflated(num_classes=config.num_classes, **model_kwargs)
    load_state_dict_strict(model, deflate_i3d_state(video.state_dict()), f"{info['weights_id']} (deflated)")
    if weights not in (None, "random"):  # the default's weights_id already says it
        info = {**info, "weights_id": f"{info['weights_id']}, deflated to 2D"}
    return model, info
