"""Backbone registry: a decorator registers each network with its weights config.

``create_backbone(name)`` looks the name up, builds the network with its weights
and wraps it in a :class:`Backbone` that turns uint8 clips into Kinetics-400
logits (video networks) or uint8 slices into logits or embeddings (image networks,
``config.kind == "image"``).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

import numpy as np

from mgmtfeat.backbones import _cpu, dtype_choice
from mgmtfeat.backbones._weights import KINDS, WeightsConfig

__all__ = ["register_backbone", "create_backbone", "list_backbones", "get_weights_config", "Backbone",
           "check_backbone_kind", "resolve_dtype", "BF16_MIN_CCC"]

# name -> (builder, config). builder(config, weights, model_kwargs) -> (module, info)
_REGISTRY: dict[str, tuple[Callable, WeightsConfig]] = {}
# modules registering networks, and the main entry of each family (the rest are variants)
_FAMILIES = ("i3d", "vivit", "slowfast", "r2plus1d", "resnet2d", "i3d2d")
_MAIN = ("i3d", "vivit", "slowfast", "r2plus1d", "resnet50", "i3d2d")
_DTYPES = ("float32", "bfloat16", "int8")

#: ``dtype="auto"`` takes bfloat16 only for a net whose recorded bfloat16-vs-float32 CCC reaches this.
BF16_MIN_CCC = dtype_choice.MIN_CCC


#: Seed of every random-weight backbone (tests, benchmarks, trials without downloaded weights).
RANDOM_WEIGHTS_SEED = 0


def register_backbone(name: str, config: WeightsConfig):
    """Decorator registering ``builder(config, weights, model_kwargs) -> (module, info)``.

    ``weights`` is None (the config's default source), a local path, or
    ``"random"``; ``info`` is a dict with at least ``weights_id``, ``sha256`` and
    ``random``. The module maps the preprocessed tensor to logits ``(N, 400)`` and
    has ``forward_features`` giving the pre-logit embedding ``(N, D)``.
    """

    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        _REGISTRY[name] = (builder, config)
        return builder

    return wrap


def _load_families() -> None:
    for family in _FAMILIES:
        importlib.import_module(f"{__package__}.{family}")


def list_backbones(all_variants: bool = False, kind: str | None = "video") -> list[str]:
    """Names of the registered backbones, sorted.

    Parameters
    ----------
    all_variants : bool
        Include the extra variants (e.g. ``"slowfast_8x8"``), not only the main entries.
    kind : {"video", "image"} or None
        Only the video networks (default: ``["i3d", "r2plus1d", "slowfast", "vivit"]``),
        only the image (2D) networks (``["i3d2d", "resnet50"]``), or None for all.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {KINDS} or None")
    _load_families()
    names = sorted(n for n, (_, config) in _REGISTRY.items() if kind is None or config.kind == kind)
    return names if all_variants else [n for n in names if n in _MAIN]


def _lookup(name: str):
    _load_families()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown backbone {name!r}; known backbones: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def get_weights_config(name: str) -> WeightsConfig:
    """The :class:`WeightsConfig` registered for backbone ``name``."""
    return _lookup(name)[1]


def check_backbone_kind(name: str, kind: str, pathway: str = "this pathway") -> WeightsConfig:
    """Raise ValueError unless backbone ``name`` is a ``kind`` ("video" or "image") network.

    For a pathway that takes only clips (3D networks) or only slices (2D networks);
    the message names the networks that fit. Returns the net's config.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {KINDS}")
    config = get_weights_config(name)
    if config.kind != kind:
        what = {"video": "a video (3D) network taking clips", "image": "an image (2D) network taking slices"}
        raise ValueError(
            f"backbone {name!r} is {what[config.kind]}, but {pathway} needs {what[kind]}; "
            f"use one of {', '.join(list_backbones(all_variants=True, kind=kind))}"
        )
    return config


def resolve_dtype(name: str, dtype: str = "auto", device: str = "cpu") -> str:
    """The compute dtype ``create_backbone(name, dtype=dtype)`` uses.

    ``"float32"``, ``"bfloat16"`` and ``"int8"`` (opt-in, gated per net) are returned as they
    are. ``"auto"`` gives ``"bfloat16"`` only where the device computes bfloat16 natively (on CPUs:
    :func:`~mgmtfeat.backbones.native_bfloat16`; emulated bfloat16 is 20-50x slower), the net's
    config records a bfloat16-vs-float32 concordance ``bf16_ccc >= BF16_MIN_CCC`` (0.999) **and**
    bfloat16 is measured faster for the net on this machine (:mod:`~mgmtfeat.backbones.dtype_choice`,
    cached); ``"float32"`` otherwise.
    """
    if dtype != "auto":
        if dtype not in _DTYPES:
            raise ValueError(f"dtype {dtype!r} is not supported; use one of {_DTYPES + ('auto',)}")
        if dtype == "int8":  # opt-in only, gated per net (mgmtfeat.backbones.quantize)
            from mgmtfeat.backbones.quantize import check_int8

            check_int8(name, device)
        return dtype
    config = get_weights_config(name)
    ccc_ok = config.bf16_ccc is not None and config.bf16_ccc >= BF16_MIN_CCC
    return dtype_choice.choose(name, device, config.bf16_ccc, ccc_ok and _native_bfloat16(device), create_backbone,
                               bool(config.channels_last))["dtype"]


def _native_bfloat16(device) -> bool:
    import torch

    device = torch.device(device)
    if device.type == "cpu":
        return _cpu.native_bfloat16()
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False


def create_backbone(
    name: str,
    weights=None,
    device: str = "cpu",
    dtype: str = "float32",
    threads: int | None = None,
    *,
    pretrained: bool = True,
    num_frames: int | None = None,
    size: int | None = None,
    model_kwargs: dict | None = None,
    channels_last: bool | None = None,
    fuse: bool = True,
) -> "Backbone":
    """Build a registered backbone with its weights, ready for :meth:`Backbone.extract`.

    Parameters
    ----------
    name : str
        One of :func:`list_backbones` (``list_backbones(all_variants=True)`` for variants).
    weights : None, str or path-like
        None: the default source of the config (package file, Hugging Face cache or
        download, URL download into the user cache). A path: a local weights file
        (or, for ``vivit``, a directory saved with ``save_pretrained``).
        ``"random"``: random initialisation, labelled as such in provenance.
    device : {"cpu", "cuda", ...}
        Torch device.
    dtype : {"float32", "bfloat16", "int8", "auto"}
        Compute dtype of the network; outputs are always float32. ``"auto"``: see
        :func:`resolve_dtype`. ``"int8"`` (opt-in, CPU, ViViT): linears dynamically quantised,
        see :mod:`~mgmtfeat.backbones.quantize`. The dtype used is ``Backbone.dtype`` and goes to provenance.
    threads : int, optional
        ``torch.set_num_threads`` value (process-wide); None leaves it unchanged.
    pretrained : bool
        False is the same as ``weights="random"``.
    num_frames, size : int, optional
        Override the input frames / spatial size of the config (e.g. small inputs
        for tests); recorded in provenance.
    model_kwargs : dict, optional
        Architecture overrides passed to the family builder; only with random weights.
    channels_last : bool, optional
        Channels-last weights and input (``channels_last_3d`` for video networks);
        None takes the config's ``channels_last`` (set where it was measured faster, in
        float32) for float32; for bfloat16 the layout ``dtype="auto"`` measured faster on this
        machine (:mod:`~mgmtfeat.backbones.dtype_choice`), contiguous where none was measured.
        Results agree with the contiguous layout up to float rounding.
    fuse : bool
        Rewrite the network for inference after loading its weights: batch norms folded
        into the convolutions, ReLUs (and residual sums) fused into them, I3D's 'SAME'
        max pools padded implicitly (:mod:`~mgmtfeat.backbones._fuse`), ViViT's
        eight-op GELU run as one kernel. False runs the network op by op as written.
        Results agree up to float rounding; the state dict of a fused ``Backbone.model``
        holds the folded weights (no batch norms).

    Returns
    -------
    Backbone
    """
    import torch

    builder, config = _lookup(name)
    dtype = resolve_dtype(name, dtype, device)
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads={threads} must be a positive integer")
        torch.set_num_threads(int(threads))
    if not pretrained:
        if weights not in (None, "random"):
            raise ValueError(f"pretrained=False conflicts with weights={weights!r}; pass one of them")
        weights = "random"
    if model_kwargs and weights != "random":
        raise ValueError(
            f"model_kwargs={model_kwargs!r} change the architecture of {name!r}, which only "
            "makes sense with weights='random'"
        )
    if num_frames is not None and config.kind == "image" and num_frames != 1:
        raise ValueError(f"num_frames={num_frames}: {name!r} is an image network, which takes one frame")
    overrides = {k: v for k, v in (("num_frames", num_frames), ("size", size)) if v is not None}
    if "size" in overrides:
        # keep the crop ratio of the config
        overrides["resize_to"] = round(config.resize_to * size / config.size)
    config = dataclasses.replace(config, **overrides)
    # Random weights come from a fixed seed, so a resumed or distributed extraction stays consistent.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        model, info = builder(config, weights, dict(model_kwargs or {}))
    if info["random"]:
        info["random_seed"] = RANDOM_WEIGHTS_SEED
    if channels_last is None:
        # measured in float32 only; emulated bfloat16 here ran slower channels-last, native is unmeasured
        channels_last = dtype_choice.layout_for(name, dtype, device, config.channels_last and dtype == "float32")
    return Backbone(name, model, config, info, device=device, dtype=dtype, channels_last=channels_last,
                    fuse=fuse)


class Backbone:
    """A network with its preprocessing: clips (video) or slices (image) into logits or embeddings.

    Built by :func:`create_backbone`; not meant to be constructed directly.
    """

    def __init__(self, name, model, config: WeightsConfig, info: dict, device="cpu", dtype="float32",
                 channels_last: bool = False, fuse: bool = False):
        import torch

        from mgmtfeat.backbones._fuse import fuse_for_inference

        self.name = name
        self.config = config
        self.info = dict(info)
        self.device = torch.device(device)
        self.dtype = dtype
        # int8 quantises the linears of a float32 network (mgmtfeat.backbones.quantize)
        self._torch_dtype = torch.float32 if dtype == "int8" else getattr(torch, dtype)
        model = model.eval()
        # folded in float32 (float64 inside), before any cast to bfloat16; nets without batch norms: no-op
        self.fused = bool(fuse) and fuse_for_inference(model) > 0
        self.model = model.to(device=self.device, dtype=self._torch_dtype)
        if hasattr(self.model, "prepare_dtype"):  # per-network mixed-precision exceptions
            self.model.prepare_dtype(self._torch_dtype)
        for param in self.model.parameters():
            param.requires_grad_(False)
        if dtype == "int8":
            from mgmtfeat.backbones.quantize import quantize_linears

            quantize_linears(self.model)
        # channels-last convolution weights (rank 5 for video nets, 4 for image nets) and input
        self.channels_last = bool(channels_last)
        self._rank = 5 if config.kind == "video" else 4
        self._memory_format = {5: torch.channels_last_3d, 4: torch.channels_last}[self._rank]
        if self.channels_last:
            for param in self.model.parameters():
                if param.ndim == self._rank:
                    param.data = param.data.contiguous(memory_format=self._memory_format)

    @property
    def provenance(self) -> dict:
        """What produced the features: net, weights id and sha256(s), random or not, input."""
        import torch

        c = self.config
        # a converted checkpoint (I3D) also records the digest of the file actually loaded
        converted = ({"weights_converted_sha256": self.info["converted_sha256"]}
                     if "converted_sha256" in self.info else {})
        return {
            "net": self.name,
            "weights_id": self.info["weights_id"],
            "weights_sha256": self.info.get("sha256"),
            **converted,
            "random_weights": bool(self.info["random"]),
            "random_seed": self.info.get("random_seed"),
            "num_frames": c.num_frames,
            "size": c.size,
            "resize_to": c.resize_to,
            "sampling": c.sampling,
            "normalisation": {"rescale": c.rescale, "offset": c.offset, "mean": list(c.mean),
                              "std": list(c.std)},
            "layout": c.layout,
            "dtype": self.dtype,
            **dtype_choice.provenance_fields(self.name, self.dtype, self.device),  # auto's measurement, int8's method
            "torch": torch.__version__,
        }

    @property
    def kind(self) -> str:
        """``"video"`` (takes clips) or ``"image"`` (takes slices)."""
        return self.config.kind

    def preprocess(self, clips: np.ndarray):
        """Network input tensor for ``clips`` (video) or slices (image).

        See :func:`preprocess.preprocess` and :func:`preprocess.preprocess_slices`.
        """
        from mgmtfeat.backbones.preprocess import preprocess, preprocess_slices

        prep = preprocess if self.kind == "video" else preprocess_slices
        return prep(clips, self.config, device=self.device, dtype=self._torch_dtype)

    def forward(self, x, return_embedding: bool = False):
        """Bare forward pass of a preprocessed tensor under ``torch.inference_mode``.

        Returns a float32 tensor: logits ``(N, num_classes)`` or the embedding ``(N, D)``.
        """
        import torch

        if self.channels_last and x.ndim == self._rank:
            x = x.contiguous(memory_format=self._memory_format)
        with torch.inference_mode():
            out = self.model.forward_features(x) if return_embedding else self.model(x)
        return out.float()

    def extract(self, clips: np.ndarray, return_embedding: bool = False) -> np.ndarray:
        """Logits (or the pre-logit embedding) of each clip, or of each slice for an image network.

        Parameters
        ----------
        clips : np.ndarray of uint8, shape (n_clips, n_frames, H, W) or (n_slices, H, W)
            Video network: grey clips (n_frames = 150, H = W = 128 normally; any frame count is
            sampled to the net's). Image network: grey slices. All run as one batch.
        return_embedding : bool
            Return the pre-logit embedding ``(n, D)`` instead of the logits.

        Returns
        -------
        np.ndarray of float32, shape (n, num_classes)
            Pre-softmax logits (400 Kinetics-400 classes; 1000 ImageNet classes for
            ``resnet50``). When the batch runs out of memory it is retried one by one.
        """
        from mgmtfeat.backbones.preprocess import check_clips, check_slices

        (check_clips if self.kind == "video" else check_slices)(clips)
        try:
            return self._run(clips, return_embedding)
        except (RuntimeError, MemoryError) as exc:
            if len(clips) == 1 or not _is_oom(exc):
                raise
            _free_memory(self.device)
            return np.concatenate([self._run(clips[i:i + 1], return_embedding)
                                   for i in range(len(clips))])

    def _run(self, clips, return_embedding):
        out = self.forward(self.preprocess(clips), return_embedding=return_embedding)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def __repr__(self):
        kind = "random weights" if self.info["random"] else self.info["weights_id"]
        return f"Backbone({self.name!r}, {kind}, {self.dtype}, {self.device})"


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def _free_memory(device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
