"""The nets of one extraction: ``--net i3d,r2plus1d``, each net's ``--weights`` and its own settings.

A run may name several video nets; each case is then read and clipped once and its clips fed to
every net (:mod:`.worker`), while each net keeps its own store folder, provenance, failures and
claim. This module turns the run's options into one single-net :class:`ExtractionSettings` per
net, and refuses a bad list before any data is read:

>>> net_list("i3d, r2plus1d")
['i3d', 'r2plus1d']
>>> parse_weights(["i3d=weights/i3d.pt,r2plus1d=random"], ["i3d", "r2plus1d"])
{'i3d': 'weights/i3d.pt', 'r2plus1d': 'random'}

Nothing here imports torch.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Mapping, Sequence

from mgmtfeat.store import FeatureStore

__all__ = ["RANDOM", "net_list", "check_video_nets", "check_sampling", "parse_weights", "net_settings",
           "run_dtype"]

#: ``--weights`` value asking for random weights; bare, it applies to every net of the run.
RANDOM = "random"
#: Net name of the handcrafted features (volumes, not clips: a path of its own).
_RADIOMICS = "radiomics"
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_KEYED = re.compile(rf"^\s*({_NAME})=(.*)$", re.S)
# split "i3d=a,r2plus1d=b" at the commas that start a NET= item, so a bare path may hold commas
_ITEMS = re.compile(rf",(?=\s*{_NAME}=)")


def net_list(net: str | Sequence[str]) -> list[str]:
    """The nets of ``--net`` (``"i3d,r2plus1d"`` or a list), in the order given.

    Raises
    ------
    ValueError
        No net, a net listed twice, or ``radiomics`` beside video nets (it reads the volumes, not
        the clips, so it shares nothing with them: run it as its own ``--net radiomics``).
    """
    from mgmtfeat.backbones import canonical_name

    # an alias (e.g. ircsn) stands for its registered name, so a store folder has one name per net
    names = [canonical_name(part.strip()) for part in (net.split(",") if isinstance(net, str) else net)
             if part.strip()]
    if not names:
        raise ValueError(f"--net {net!r}: name at least one net, e.g. i3d or i3d,r2plus1d")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--net {','.join(names)}: {', '.join(twice)} listed twice; name each net once")
    if _RADIOMICS in names and len(names) > 1:
        others = ",".join(n for n in names if n != _RADIOMICS)
        raise ValueError(f"--net {','.join(names)}: radiomics reads the volumes, not the clips, and cannot share a "
                         f"pass with video nets; run it separately: `mgmtfeat extract --net radiomics ...` and "
                         f"`mgmtfeat extract --net {others} ...` (same --out)")
    return names


def check_video_nets(nets: Sequence[str]) -> None:
    """Raise ValueError for an unknown net or an image (2D) one, naming the nets that fit."""
    from mgmtfeat.backbones import check_backbone_kind

    for net in nets:
        check_backbone_kind(net, "video", pathway="the clip pathway of `mgmtfeat extract` (2D networks take "
                            "--pathway slices)")


def check_sampling(nets: Sequence[str], sampling: str, n_frames: int) -> None:
    """Raise ValueError, before any data is read, for a ``--sampling`` a net or the clips cannot take.

    ``"paper"`` is only for the nets the authors ran and needs clips whose length gives their
    frames (150 frames, stride 25); the message names the nets that fit or the fix.
    """
    from mgmtfeat.backbones import get_weights_config, paper_backbones
    from mgmtfeat.backbones.sampling import frame_indices, with_sampling

    for net in nets:
        config = with_sampling(net, get_weights_config(net), sampling, paper_backbones())
        frame_indices(n_frames, config)


def _items(spec) -> list[tuple[str | None, str]]:
    """``(net or None, value)`` for each ``--weights`` item: ``PATH``, ``NET=PATH``, comma-separated."""
    if isinstance(spec, Mapping):
        return [(str(k), v) for k, v in spec.items()]
    out = []
    for text in [spec] if isinstance(spec, str) else list(spec):
        for part in _ITEMS.split(str(text)):
            keyed = _KEYED.match(part)
            out.append((keyed.group(1), keyed.group(2).strip()) if keyed else (None, part.strip()))
    return out


def parse_weights(spec, nets: Sequence[str]) -> dict[str, str | None]:
    """``{net: weights}`` for the nets of a run (None: the net's own source).

    Parameters
    ----------
    spec : None, str, list of str or mapping
        ``--weights`` values: ``PATH`` (one net only), ``random`` (every net not named otherwise),
        ``NET=PATH`` (repeated or comma-separated: ``i3d=a.pt,r2plus1d=random``), or ``{net: path}``.
    nets : list of str
        The run's nets (:func:`net_list`).

    Raises
    ------
    ValueError
        A ``NET=`` key that is not in ``nets``, a net given weights twice, an empty value, or a
        bare path with several nets (which net it is for cannot be told).
    """
    out: dict[str, str | None] = dict.fromkeys(nets)
    if spec is None:
        return out
    bare, given = [], set()
    for key, value in _items(spec):
        if value is not None and not str(value).strip():
            raise ValueError(f"--weights {key + '=' if key else repr('')}: give a path or '{RANDOM}'")
        if key is None:
            bare.append(value)
            continue
        if key not in out:
            raise ValueError(f"--weights {key}=...: {key} is not one of the nets of this run ({', '.join(nets)}); "
                             f"add it to --net or drop its weights")
        if key in given:
            raise ValueError(f"--weights: {key} is given weights twice; give each net one NET=PATH")
        given.add(key)
        out[key] = value
    if len(bare) > 1:
        raise ValueError(f"--weights {', '.join(map(str, bare))}: give one bare value at most; name the net of "
                         "each other one (NET=PATH)")
    if bare:
        _apply_bare(out, bare[0], given, nets)
    return out


def _apply_bare(out: dict, value: str, given: set, nets: Sequence[str]) -> None:
    """A value without ``NET=``: the one net's weights, or ``random`` for every net not named."""
    if len(nets) == 1:
        if given:
            raise ValueError(f"--weights: {nets[0]} is given weights twice ({value} and {nets[0]}=...)")
        out[nets[0]] = value
    elif value == RANDOM:  # not a file: random weights fit every net
        out.update({net: RANDOM for net in nets if net not in given})
    else:
        raise ValueError(f"--weights {value}: a bare path is for a run of one net; with --net {','.join(nets)} "
                         f"name its net, e.g. --weights {nets[0]}={value}")


def net_settings(settings, nets: Sequence[str], store: FeatureStore) -> dict:
    """One single-net copy of ``settings`` per net: its weights and its dtype (``auto`` resolved).

    Returns
    -------
    dict
        ``{net: ExtractionSettings}`` in the order of ``nets``.
    """
    weights = parse_weights(settings.weights, nets)
    runs = {net: replace(settings, net=net, weights=weights[net]) for net in nets}
    return {net: replace(run, dtype=run_dtype(store, run)) for net, run in runs.items()}


def run_dtype(store: FeatureStore, settings) -> str:
    """The dtype of this run: ``float32`` and ``bfloat16`` as given; ``auto`` (opt-in) resolved for this machine,
    except that a store keeps the dtype it was made with (a resumed store never mixes dtypes for one net, whichever
    machine resumes it)."""
    from mgmtfeat.backbones import resolve_dtype

    if settings.dtype != "auto":
        return resolve_dtype(settings.net, settings.dtype, settings.device)  # checks it (int8: per net) up front
    made_with = store.provenance(settings.net).get("dtype") if settings.net in store.nets() else None
    return made_with if made_with and not settings.force else resolve_dtype(settings.net, "auto", settings.device)
