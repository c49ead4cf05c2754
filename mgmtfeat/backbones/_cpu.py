"""What the CPU offers: native bfloat16 or not (bfloat16 is emulated, and 20-50x slower, elsewhere)."""

from __future__ import annotations

__all__ = ["native_bfloat16"]


def native_bfloat16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), as oneDNN reports it.

    On an AVX2-only CPU a bfloat16 Conv3d is emulated and runs 20-50 times slower than float32.
    """
    import torch

    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
