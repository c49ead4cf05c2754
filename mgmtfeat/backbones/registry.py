"""Backbone registry: a decorator registers each network with its weights config.

Families are found where they are defined: every public module of this package (not the
:mod:`~mgmtfeat.backbones.blocks` subpackage of torch building blocks) is imported once on the
first lookup, and each family module registers its own names
(``main=True`` for the entries :func:`list_backbones` shows by default, ``aliases`` for
short names); nothing here lists them.

``create_backbone(name)`` looks the name up, builds the network with its weights
and wraps it in a :class:`Backbone` that turns uint8 clips into Kinetics-400
logits (video networks) or uint8 slices into logits or embeddings (image networks,
``config.kind == "image"``).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Callable

from mgmtfeat.backbones import dtype_choice
from mgmtfeat.backbones.backbone import Backbone
from mgmtfeat.backbones.devices import check_device, native_bfloat16_on
from mgmtfeat.backbones.weights import KINDS, WeightsConfig

__all__ = ["register_backbone", "create_backbone", "list_backbones", "get_weights_config", "Backbone",
           "canonical_name", "paper_backbones",
           "check_backbone_kind", "resolve_dtype", "BF16_MIN_CCC"]

# name -> (builder, config). builder(config, weights, model_kwargs) -> (module, info)
_REGISTRY: dict[str, tuple[Callable, WeightsConfig]] = {}
# the main entry of each family (the rest are variants), and short names -> registered names
_MAIN: set[str] = set()
_ALIASES: dict[str, str] = {}
_DTYPES = ("float32", "bfloat16", "int8")

#: ``dtype="auto"`` takes bfloat16 only for a net whose recorded bfloat16-vs-float32 CCC reaches this.
BF16_MIN_CCC = dtype_choice.MIN_CCC


#: Seed of every random-weight backbone (tests, benchmarks, trials without downloaded weights).
RANDOM_WEIGHTS_SEED = 0


def register_backbone(name: str, config: WeightsConfig, *, main: bool = False, aliases: tuple = ()):
    """Decorator registering ``builder(config, weights, model_kwargs) -> (module, info)``.

    ``weights`` is None (the config's default source), a local path, or
    ``"random"``; ``info`` is a dict with at least ``weights_id``, ``sha256`` and
    ``random``. The module maps the preprocessed tensor to logits ``(N, 400)`` and
    has ``forward_features`` giving the pre-logit embedding ``(N, D)``. ``main`` marks
    the family's main entry (listed by default); ``aliases`` are other names for it
    (a backbone built through an alias carries the registered name).
    """

    def wrap(builder):
        for key in (name, *aliases):
            if key in _REGISTRY or key in _ALIASES:
                raise ValueError(f"backbone {key!r} is already registered")
        _REGISTRY[name] = (builder, config)
        _ALIASES.update({alias: name for alias in aliases})
        if main:
            _MAIN.add(name)
        return builder

    return wrap


_LOADED: list[bool] = []


def _load_families() -> None:
    """Import every public module of this package once, so each family registers itself.

    Subpackages are skipped: ``blocks/`` holds the torch building blocks, which register nothing.
    """
    if _LOADED:
        return
    package = importlib.import_module(__package__)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and not module.ispkg:
            importlib.import_module(f"{__package__}.{module.name}")
    _LOADED.append(True)


def canonical_name(name: str) -> str:
    """The registered name of ``name`` (itself, or the name an alias stands for)."""
    _load_families()
    return _ALIASES.get(name, name)


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
    name = canonical_name(name)
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown backbone {name!r}; known backbones: {', '.join(sorted(_REGISTRY))} "
            f"(aliases: {', '.join(sorted(_ALIASES))})"
        )
    return _REGISTRY[name]


def paper_backbones() -> list[str]:
    """Names of the nets that support ``sampling="paper"`` (the nets the authors ran), sorted."""
    _load_families()
    return sorted(n for n, (_, config) in _REGISTRY.items() if config.paper is not None)


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
            f"use one of {_choices(kind)}"
        )
    return config


def _choices(kind: str) -> str:
    """The nets of ``kind`` for a message: main entries first, then the variants."""
    main = list_backbones(kind=kind)
    variants = [n for n in list_backbones(all_variants=True, kind=kind) if n not in main]
    return ", ".join(main) + (f" (or a variant: {', '.join(variants)})" if variants else "")


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
    return dtype_choice.choose(name, device, config.bf16_ccc, ccc_ok and native_bfloat16_on(device), create_backbone,
                               bool(config.channels_last))["dtype"]


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
    sampling: str = "uniform",
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
        Compute dtype of the network; outputs are always float32. ``"float32"`` (default) gives the
        same outputs on every CPU (to float32 rounding); ``"bfloat16"`` and ``"auto"`` (see
        :func:`resolve_dtype`) are opt-ins whose outputs depend on the dtype, and for ``"auto"`` on the
        CPU. ``"int8"`` (opt-in, CPU, ViViT): linears dynamically quantised,
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
        max pools padded implicitly (:mod:`~mgmtfeat.backbones.blocks.fuse`), ViViT's
        eight-op GELU run as one kernel. False runs the network op by op as written.
        Results agree up to float rounding; the state dict of a fused ``Backbone.model``
        holds the folded weights (no batch norms).
    sampling : {"uniform", "paper"}
        How frames are taken from a clip (:mod:`~mgmtfeat.backbones.sampling`): ``"uniform"``
        over the whole clip, or ``"paper"``, the authors' frames and preprocessing (only for
        the nets they ran: :func:`paper_backbones`); recorded in provenance.

    Returns
    -------
    Backbone
    """
    import torch

    from mgmtfeat.backbones.input_size import check_input_size
    from mgmtfeat.backbones.sampling import with_sampling

    name = canonical_name(name)
    builder, config = _lookup(name)
    own_size = (config.num_frames, config.size)
    config = with_sampling(name, config, sampling, paper_backbones())
    check_device(device)  # a clear error, not torch's, before anything is built or timed on it
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
    if overrides and sampling == "paper":
        raise ValueError(f"sampling 'paper' fixes the frames and size of {name!r} as the authors ran it; "
                         f"leave {' and '.join(overrides)} unset, or use sampling='uniform'")
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
    check_input_size(model.eval(), name, config, *own_size)  # before any clip: names the smallest size it takes
    if channels_last is None:
        # measured in float32 only; emulated bfloat16 here ran slower channels-last, native is unmeasured
        channels_last = dtype_choice.layout_for(name, dtype, device, config.channels_last and dtype == "float32")
    return Backbone(name, model, config, info, device=device, dtype=dtype, channels_last=channels_last,
                    fuse=fuse)
