"""``dtype="auto"`` by measurement: bfloat16, and its memory layout, only where it is native, close and faster.

Native bfloat16 is not faster for every net (SlowFast ran slower in bfloat16 than in float32 on an
AVX-512 BF16 CPU), so ``auto`` takes bfloat16 for a net only when all three hold:

1. the device computes bfloat16 natively (emulated bfloat16 is 20-50x slower: nothing is timed);
2. the net's recorded bfloat16-vs-float32 concordance ``bf16_ccc`` is at least 0.999;
3. a short forward of the net in bfloat16 is measured at least :data:`MARGIN` faster than in float32
   on this machine: one clip at the net's input size, random weights, best of two after a warm-up,
   float32 in the net's recorded layout, bfloat16 contiguous and channels-last; the faster bfloat16
   layout is the one used.

Measurements are cached per CPU model (or GPU name), torch version and net in
``dtype_choice.json`` under the user cache folder (:func:`mgmtfeat._io.cache_dir`), written
atomically, so each machine times a net once. int8 is never chosen (it is opt-in). The choice and
its measurements go to provenance as ``dtype_choice`` (left out of the settings digest: a store
resumed on another machine keeps its dtype, see ``mgmtfeat.extraction.nets``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

__all__ = ["MARGIN", "choose", "layout_for", "measure", "machine_key", "cache_path", "provenance_fields"]

#: bfloat16 must be this much faster (1 - t_bf16 / t_fp32) to be chosen: short timings vary by a few %.
MARGIN = 0.05
#: ``dtype="auto"`` takes bfloat16 only for a net whose recorded bfloat16-vs-float32 CCC reaches this.
MIN_CCC = 0.999
#: choices made by ``auto`` in this process, ``{(net, device type): record}``, for provenance
_MADE: dict[tuple[str, str], dict] = {}


def cache_path() -> Path:
    """The JSON file holding this user's measurements."""
    from mgmtfeat._io import cache_dir

    return cache_dir() / "dtype_choice.json"


def machine_key(device: str = "cpu") -> str:
    """What a measurement holds for: the CPU model (or GPU name), its torch capability, torch's version."""
    import platform

    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} | torch {torch.__version__}"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} | {torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__}"


def measure(name: str, device: str, build: Callable, channels_last_fp32: bool) -> dict:
    """Seconds of one clip's forward per variant: ``{"float32": s, "bfloat16": s, "bfloat16/channels_last": s}``.

    ``build(name, dtype=..., channels_last=..., device=..., weights="random")`` makes the backbone.
    """
    import numpy as np
    import torch

    seconds = {}
    variants = {"float32": ("float32", channels_last_fp32), "bfloat16": ("bfloat16", False),
                "bfloat16/channels_last": ("bfloat16", True)}
    for key, (dtype, layout) in variants.items():
        bb = build(name, weights="random", dtype=dtype, channels_last=layout, device=device)
        c = bb.config
        clips = np.random.default_rng(0).integers(0, 256, (1, c.num_frames, c.size, c.size), dtype=np.uint8)
        x = bb.preprocess(clips)
        times = []
        for _ in range(3):  # the first is a warm-up (kernel selection, allocator)
            t0 = time.perf_counter()
            bb.forward(x)
            if bb.device.type == "cuda":
                torch.cuda.synchronize(bb.device)
            times.append(time.perf_counter() - t0)
        seconds[key] = min(times[1:])
        del bb
    return seconds


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: measure again and rewrite it


def _measured(name: str, device: str, build: Callable, channels_last_fp32: bool) -> dict:
    """The cached measurement of ``name`` on this machine, or a new one (then cached)."""
    import torch

    from mgmtfeat._io import atomic_write_text

    key, entry = machine_key(device), f"{name}@{torch.device(device).type}"
    path = cache_path()
    found = _read_cache(path).get(key, {}).get(entry)
    if isinstance(found, dict) and "seconds" in found:
        return found
    record = {"seconds": measure(name, device, build, channels_last_fp32),
              "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": key}
    data = _read_cache(path)  # re-read: another process may have added other nets meanwhile
    data.setdefault(key, {})[entry] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))
    return record


def _decide(s: dict) -> dict:
    """dtype, layout and reason from measured seconds ``s`` (see :func:`measure`)."""
    layout = "bfloat16/channels_last" if s["bfloat16/channels_last"] < s["bfloat16"] else "bfloat16"
    faster = s[layout] <= (1 - MARGIN) * s["float32"]
    return {"dtype": "bfloat16" if faster else "float32",
            "channels_last": (layout != "bfloat16") if faster else None,
            "reason": (f"bfloat16 ({layout}) measured {s[layout]:.3g} s per clip vs float32 {s['float32']:.3g} s: "
                       f"{'faster' if faster else 'not faster'} by {MARGIN:.0%}")}


def choose(name: str, device: str, ccc: float | None, native: bool, build: Callable,
           channels_last_fp32: bool = False) -> dict:
    """The dtype ``auto`` gives net ``name`` on ``device``, and why.

    Returns
    -------
    dict
        ``{"dtype", "channels_last", "reason"}``, plus ``"seconds"``, ``"machine"`` and
        ``"measured"`` where the net was timed (only when bfloat16 is native and ``ccc`` allows it).
    """
    import torch

    if ccc is None or ccc < MIN_CCC:
        record = {"dtype": "float32", "channels_last": None,
                  "reason": f"recorded bfloat16-vs-float32 CCC {ccc} (needs >= {MIN_CCC})"}
    elif not native:
        record = {"dtype": "float32", "channels_last": None, "reason": "bfloat16 is not native on this device"}
    else:
        measured = _measured(name, device, build, channels_last_fp32)
        record = {**_decide(measured["seconds"]), **measured}
    _MADE[(name, torch.device(device).type)] = record
    return record


def layout_for(name: str, dtype: str, device: str, default: bool) -> bool:
    """Channels-last or not for ``create_backbone(channels_last=None)``.

    bfloat16: the faster layout measured for a net ``auto`` chose bfloat16 for (in this process, or
    cached for this machine, as a worker process of an extraction finds it); otherwise ``default``.
    """
    import torch

    if dtype != "bfloat16":
        return default
    record = _MADE.get((name, torch.device(device).type))
    if record is None:
        found = _read_cache(cache_path()).get(machine_key(device), {}).get(f"{name}@{torch.device(device).type}")
        record = _decide(found["seconds"]) if isinstance(found, dict) and "seconds" in found else None
    return bool(record["channels_last"]) if record and record["dtype"] == "bfloat16" else default


def provenance_fields(name: str, dtype: str, device) -> dict:
    """What provenance records of the dtype: ``{"dtype_choice": record}`` when ``auto`` chose ``dtype``
    for this net in this process; ``{"int8": ...}`` (method and gate) for int8; else ``{}``."""
    import torch

    if dtype == "int8":
        from mgmtfeat.backbones.quantize import int8_record

        return {"int8": int8_record(name)}
    record = _MADE.get((name, torch.device(device).type))
    return {"dtype_choice": record} if record and record["dtype"] == dtype else {}
