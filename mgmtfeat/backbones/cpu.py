"""What the CPU offers: native bfloat16 or not (bfloat16 is emulated, and 20-50x slower, elsewhere)."""

from __future__ import annotations

import os

__all__ = ["native_bfloat16"]

# oneDNN's ISA names (its ONEDNN_MAX_CPU_ISA values) that cap it below native bfloat16: a cap at one of these
# makes oneDNN emulate bfloat16 even on a CPU that has it. Names not listed (AVX512_CORE_BF16, the AMX and
# AVX10 ones, ALL, DEFAULT) leave bfloat16 native where the CPU has it.
_BELOW_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def native_bfloat16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), as oneDNN reports it.

    On an AVX2-only CPU a bfloat16 Conv3d is emulated and runs 20-50 times slower than float32. The
    answer honours the environment caps that make a newer CPU behave as an older one:
    ``ATEN_CPU_CAPABILITY`` (through ``torch.backends.cpu.get_cpu_capability()``) and
    ``ONEDNN_MAX_CPU_ISA`` (or its older name ``DNNL_MAX_CPU_ISA``); e.g. ``ONEDNN_MAX_CPU_ISA=AVX2``
    gives False on every CPU.
    """
    import torch

    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    if cap.strip().upper() in _BELOW_BF16:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
