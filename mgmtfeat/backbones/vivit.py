"""ViViT-B/16x2 (factorised encoder off, spatio-temporal attention) on Kinetics-400.

A thin wrapper of transformers' ``VivitForVideoClassification`` with the
``google/vivit-b-16x2-kinetics400`` checkpoint. Preprocessing follows that
checkpoint's ``preprocessor_config.json`` (VivitImageProcessor): shortest edge
resized to 256 (bilinear), centre crop 224, ``value / 127.5 - 1`` (``offset``),
then normalised with mean = std = 0.5.
"""

from __future__ import annotations

from pathlib import Path

from mgmtfeat.backbones.registry import register_backbone
from mgmtfeat.backbones.weights import WeightsConfig, WeightsError, pickle_refused

__all__ = ["VIVIT_CONFIG", "HF_REPO_ID"]

HF_REPO_ID = "google/vivit-b-16x2-kinetics400"

VIVIT_CONFIG = WeightsConfig(
    weights_id=HF_REPO_ID,
    source="hf",
    location=HF_REPO_ID,
    sha256=None,  # Hugging Face checks file digests itself; the repo revision goes to provenance
    num_frames=32,
    size=224,
    resize_to=256,
    rescale=1 / 127.5,
    offset=-1.0,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    layout="NTCHW",
    classifier="classifier",
    bf16_ccc=1.0,  # bfloat16 vs float32 logits, one case, random weights (benchmarks/bench_backbones.py)
    paper="vivit",  # sampling="paper": the authors' frames through VivitImageProcessor (backbones/sampling.py)
)

_HOW_TO = (
    f"supply the ViViT weights with --weights DIR (weights=DIR in Python; a folder holding config.json and the "
    f"model weights of {HF_REPO_ID}, e.g. from `huggingface-cli download {HF_REPO_ID} "
    "--local-dir DIR` on a machine with network access), or put them in the Hugging Face "
    "cache, or run once online without HF_HUB_OFFLINE=1"
)


def _wrapper():
    import torch.nn as nn

    class ViViT(nn.Module):
        """``VivitForVideoClassification`` taking (N, T, 3, H, W); logits (N, 400)."""

        def __init__(self, hf_model):
            super().__init__()
            self.hf = hf_model

        def forward(self, x):
            return self.hf(pixel_values=x).logits

        def forward_features(self, x):
            """Pre-logit embedding (N, hidden_size): the final [CLS] token after layer norm."""
            return self.hf.vivit(pixel_values=x).last_hidden_state[:, 0]

        def smallest_input(self):
            """``(frames, pixels)``: one tubelet (2x16x16), the least the patch embedding takes.

            The position embeddings are built for one input size, so the shared probe of
            :mod:`~mgmtfeat.backbones.input_size` cannot try others: the network says it here.
            """
            frames, height, width = self.hf.config.tubelet_size
            return frames, max(height, width)

        def fuse_for_inference(self):
            """Run the MLPs' ``gelu_fast`` as one GELU kernel (``create_backbone(fuse=True)``).

            transformers' ``FastGELUActivation`` (the checkpoint's ``hidden_act``) is
            ``0.5 x (1 + tanh(0.7978845608 x (1 + 0.044715 x^2)))`` written as eight
            elementwise tensor ops, eight passes over the (tokens x 3072) activations: 20 % of
            ViViT-B's float32 time on the reference machine
            (``benchmarks/profile_vivit_bf16.py``). ``nn.GELU(approximate="tanh")`` is the
            same function (its constant is sqrt(2 / pi) = 0.7978845608028654) in one pass
            computed in float32, so float32 results agree up to rounding (a few ulp) and
            bfloat16 ones are rounded once instead of after each of the eight ops.

            Each layer's q, k and v projections also run as one linear, and attention runs through
            ``scaled_dot_product_attention`` on contiguous (N, heads, tokens, 64) q, k, v
            (:mod:`~mgmtfeat.backbones.blocks.attention`): the same products, one GEMM instead of three,
            and the layout the CPU kernel ran fastest with (``benchmarks/bench_vivit_speed.py``).
            """
            import torch.nn as nn

            from mgmtfeat.backbones.blocks.attention import fuse_qkv

            for parent in list(self.hf.modules()):
                for name, child in list(parent.named_children()):
                    if type(child).__name__ == "FastGELUActivation":
                        setattr(parent, name, nn.GELU(approximate="tanh"))
            fuse_qkv(self.hf, layout="contiguous")

        def prepare_dtype(self, dtype):
            """Called after the network is cast to ``dtype``.

            In bfloat16 the tubelet embedding (a Conv3d with 3 input channels and a
            2x16x16 kernel) is several times slower than in float32 on CPUs, so it
            keeps float32 weights and its output is cast to bfloat16.
            """
            import torch

            if dtype != torch.bfloat16:
                return
            conv = self.hf.vivit.embeddings.patch_embeddings.projection
            conv.float()
            conv.register_forward_pre_hook(lambda module, args: (args[0].float(),))
            conv.register_forward_hook(lambda module, args, out: out.to(dtype))

    return ViViT


# in the order transformers prefers them
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")


def _from_folder(folder: Path, fix: str):
    """``VivitForVideoClassification`` from a folder; every broken file gives a :class:`WeightsError`."""
    import pickle

    from safetensors import SafetensorError
    from transformers import VivitForVideoClassification

    present = [folder / name for name in _WEIGHT_FILES if (folder / name).is_file()]
    if not present:
        raise WeightsError(f"ViViT weights folder {folder} holds config.json but no weights file "
                           f"({', '.join(_WEIGHT_FILES)}); {fix}")
    try:
        return VivitForVideoClassification.from_pretrained(str(folder), local_files_only=True)
    except pickle.UnpicklingError as exc:
        pickled = [p for p in present if p.name.startswith("pytorch_model")] or present
        raise pickle_refused(pickled[0], exc, fix) from exc
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError) as exc:
        raise WeightsError(f"cannot load the ViViT weights {present[0]}: {type(exc).__name__}: {exc}; "
                           f"the file is damaged or not a ViViT checkpoint; {fix}") from exc


def _load_pretrained(config: WeightsConfig, weights):
    """``(hf_model, info)`` from a local dir, the Hugging Face cache, or a download."""
    from transformers import VivitForVideoClassification

    from mgmtfeat.backbones.weight_sources import resolve_weights

    found = resolve_weights(config, weights, what="ViViT weights", how_to=_HOW_TO, expect="folder",
                            hf_download=True)
    if found.kind == "path":
        model = _from_folder(found.path, f"download the weights again: {_HOW_TO}")
        return model, {"weights_id": f"{HF_REPO_ID} (local {found.path.name})", "sha256": None}
    if found.kind == "hf":
        model = _from_folder(found.path, f"delete the cached repository {found.path.parent.parent} and "
                             f"download the weights again; or {_HOW_TO}")
        return model, {"weights_id": found.weights_id, "sha256": None}
    try:
        model = VivitForVideoClassification.from_pretrained(HF_REPO_ID)
    except OSError as exc:
        raise WeightsError(f"cannot download {HF_REPO_ID}: {exc}; {_HOW_TO}") from exc
    return model, {"weights_id": HF_REPO_ID, "sha256": None}


@register_backbone("vivit", VIVIT_CONFIG, main=True)
def build_vivit(config: WeightsConfig, weights, model_kwargs: dict):
    """ViViT-B/16x2 from transformers; ``model_kwargs`` override ``VivitConfig`` (random only).

    With random weights the VivitConfig follows the weights config (frames, image
    size, 400 labels) unless ``model_kwargs`` say otherwise; the network's
    ``num_frames`` and ``image_size`` must match the input config.
    """
    from transformers import VivitConfig, VivitForVideoClassification

    if weights == "random":
        kwargs = {"num_frames": config.num_frames, "image_size": config.size,
                  "num_labels": config.num_classes, **model_kwargs}
        hf_config = VivitConfig(**kwargs)
        if hf_config.num_frames != config.num_frames or hf_config.image_size != config.size:
            raise ValueError(
                f"VivitConfig(num_frames={hf_config.num_frames}, image_size={hf_config.image_size}) "
                f"does not match the input ({config.num_frames} frames of {config.size} px); pass "
                "num_frames= and size= to create_backbone instead"
            )
        model = VivitForVideoClassification(hf_config)
        info = {"weights_id": "random", "sha256": None, "random": True}
    else:
        model, info = _load_pretrained(config, weights)
        info["random"] = False
        hf = model.config
        if (hf.num_frames, hf.image_size) != (config.num_frames, config.size):
            raise ValueError(
                f"ViViT weights expect {hf.num_frames} frames of {hf.image_size} px, the input "
                f"config gives {config.num_frames} frames of {config.size} px; leave num_frames "
                "and size at their defaults"
            )
    if model.config.num_labels != config.num_classes:
        raise WeightsError(
            f"ViViT model has {model.config.num_labels} labels, expected {config.num_classes} "
            "(Kinetics-400)"
        )
    return _wrapper()(model), info
