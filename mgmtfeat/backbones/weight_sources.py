"""One resolver for every weights source: random, local path, package file, URL, Hugging Face cache.

Each family's builder asks :func:`resolve_weights` where its weights are and gets back a
:class:`Resolved` (a local file or folder, the digest of a file, and the id that goes to
provenance); what the file holds and how it is converted stays with the family. The
families differ only in what they read from the resolved path, so the rules for finding,
downloading and checking weights live here once:

* ``"random"``: nothing to find;
* a path: it must exist (a file, or a folder for ``expect="folder"``);
* ``source="package"``: a file inside an installed package, found without importing it;
* ``source="url"``: downloaded once into the user cache, its sha256 (and sha1 where only that
  is published, as by GluonCV) checked before use;
* ``source="hf"``: the Hugging Face cache (snapshot folder or one file of it); a download, where
  the family allows one, is left to the library that knows the repository's files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from mgmtfeat.backbones.weights import (
    WeightsConfig,
    WeightsError,
    cache_dir,
    download_to_cache,
    load_state_dict_strict,
    load_torch_checkpoint,
    resolve_package_file,
    verify_sha256,
)

__all__ = ["Resolved", "resolve_weights", "hf_cached_file", "hf_offline", "verify_sha1",
           "load_checkpoint_weights", "pytorchvideo_filter"]


@dataclasses.dataclass(frozen=True)
class Resolved:
    """Where a backbone's weights are.

    Attributes
    ----------
    kind : {"random", "path", "package", "url", "hf", "hf-download"}
        The source that was found; ``"hf-download"``: not cached, the library downloads it.
    path : Path or None
        Local file or folder (None for random weights and for ``"hf-download"``).
    weights_id : str
        What provenance calls these weights.
    sha256 : str or None
        Digest of the file (url: checked against the config; None for folders, not yet computed
        for package files, which the family checks when it reads them).
    """

    kind: str
    path: Path | None
    weights_id: str
    sha256: str | None = None

    @property
    def random(self) -> bool:
        """True for random initialisation."""
        return self.kind == "random"

    def info(self, **extra) -> dict:
        """The ``info`` dict a builder returns (``weights_id``, ``sha256``, ``random``)."""
        return {"weights_id": self.weights_id, "sha256": self.sha256, "random": self.random, **extra}


def verify_sha1(path: str | os.PathLike, expected: str | None) -> None:
    """Raise :class:`WeightsError` unless the file's sha1 is ``expected`` (None: no check)."""
    if expected is None:
        return
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise WeightsError(
            f"weights file {path} has sha1 {digest.hexdigest()}, expected {expected}; the file is "
            "corrupt or not the published checkpoint: delete it and supply the original"
        )


def hf_offline() -> bool:
    """True when Hugging Face downloads are switched off (``HF_HUB_OFFLINE``)."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.HF_HUB_OFFLINE) or flag


def hf_cached_file(repo_id: str, filename: str) -> Path | None:
    """Path of ``filename`` of ``repo_id`` in the Hugging Face cache, or None (never downloads)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return Path(found) if isinstance(found, str) else None


def resolve_weights(config: WeightsConfig, weights, *, what: str, how_to: str, expect: str = "file",
                    hf_file: str = "config.json", hf_download: bool = False) -> Resolved:
    """Find the weights of a backbone: ``weights`` if given, else the config's default source.

    Parameters
    ----------
    config : WeightsConfig
        ``source`` and ``location`` name the default source; ``sha256`` / ``sha1`` the digests.
    weights : None, "random" or path-like
        As :func:`~mgmtfeat.backbones.create_backbone` takes it.
    what : str
        How messages name the weights, e.g. ``"I3D weights file"``.
    how_to : str
        The fix that ends every message (how to supply the weights by hand).
    expect : {"file", "folder"}
        What a local path must be (a folder holding ``hf_file`` for Hugging Face models).
    hf_file : str
        The file looked up in the Hugging Face cache; the resolved path is its snapshot
        folder for ``expect="folder"``, the file itself otherwise.
    hf_download : bool
        Whether a Hugging Face model missing from the cache may be downloaded (by the family's
        library) when not offline; otherwise it is an error naming ``how_to``.

    Returns
    -------
    Resolved
    """
    if weights == "random":
        return Resolved("random", None, "random")
    if weights is not None:
        return _local(Path(weights), what, how_to, expect, hf_file)
    if config.source == "package":
        return Resolved("package", resolve_package_file(config.location), config.weights_id, config.sha256)
    if config.source == "url":
        path = download_to_cache(config.location, config.sha256, how_to)
        try:
            verify_sha1(path, config.sha1)
        except WeightsError:
            path.unlink(missing_ok=True)  # a wrong file never stays in the cache
            raise
        return Resolved("url", path, config.weights_id, verify_sha256(path, config.sha256))
    if config.source == "hf":
        return _hf(config, what, how_to, expect, hf_file, hf_download)
    raise WeightsError(f"{what}: {config.weights_id!r} has no default source ({config.source}); {how_to}")


def _local(path: Path, what: str, how_to: str, expect: str, hf_file: str) -> Resolved:
    if expect == "folder":
        if not (path.is_dir() and (path / hf_file).is_file()):
            raise WeightsError(f"{what} {path} is not a folder with {hf_file}; {how_to}")
        return Resolved("path", path, path.name)
    if not path.is_file():
        raise WeightsError(f"{what} {path} does not exist; {how_to}")
    return Resolved("path", path, path.name, verify_sha256(path, None))


def _hf(config: WeightsConfig, what: str, how_to: str, expect: str, hf_file: str, hf_download: bool):
    cached = hf_cached_file(config.location, hf_file)
    if cached is not None:
        snapshot = cached.parent  # the snapshot folder is named after the commit hash
        weights_id = f"{config.location}@{snapshot.name}"
        if expect == "folder":
            return Resolved("hf", snapshot, weights_id)
        return Resolved("hf", cached, weights_id)
    if not hf_download:
        raise WeightsError(f"{what} {config.location} are not in the Hugging Face cache; {how_to}")
    if hf_offline():
        raise WeightsError(f"{what} are not in the Hugging Face cache and HF_HUB_OFFLINE is set; {how_to}")
    return Resolved("hf-download", None, config.location)


def pytorchvideo_filter(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """State dict inside a pytorchvideo checkpoint (its ``"model_state"`` entry)."""
    if isinstance(checkpoint, Mapping) and "model_state" in checkpoint:
        return checkpoint["model_state"]
    return checkpoint


def load_checkpoint_weights(model, config: WeightsConfig, weights,
                            filter_fn: Callable = pytorchvideo_filter) -> dict:
    """Load a torch checkpoint (default: the config's URL, downloaded once) into ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        Network with random weights.
    config : WeightsConfig
        Its config (``source="url"``).
    weights : None, "random" or path-like
        None downloads ``config.location`` into :func:`cache_dir` (or reuses it); a path
        loads that file; ``"random"`` leaves the model as it is.
    filter_fn : callable
        Extracts the state dict from the loaded checkpoint.

    Returns
    -------
    dict
        ``weights_id``, ``sha256`` (of the file) and ``random``.
    """
    name = config.location.rsplit("/", 1)[-1]
    how_to = (f"download {config.location} on a machine with network access and pass "
              f"--weights PATH (weights=PATH in Python), or copy it to {cache_dir() / name}")
    found = resolve_weights(config, weights, what="weights file", how_to="pass an existing checkpoint file"
                            if weights is not None else how_to)
    if found.random:
        return found.info()
    state = filter_fn(load_torch_checkpoint(found.path))
    load_state_dict_strict(model, state, str(found.path))
    weights_id = config.weights_id if found.kind != "path" else f"{config.weights_id} (local {found.path.name})"
    return {"weights_id": weights_id, "sha256": found.sha256, "random": False}
