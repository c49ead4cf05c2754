"""Where a backbone runs: the torch device, checked before any work, and whether it computes bfloat16 natively."""

from __future__ import annotations

from mgmtfeat.backbones import cpu

__all__ = ["check_device", "native_bfloat16_on"]


def check_device(device):
    """``device`` as a ``torch.device``, or a ValueError saying why it cannot run here and what to give instead.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or any other torch device.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        Not a torch device (``"cdua"``); CUDA asked for where this torch sees no GPU (a CPU-only
        build, or none visible); a GPU index this machine does not have.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device}: not a torch device; give cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: this torch sees no CUDA device (a CPU-only build of torch, or no "
                             "GPU visible); leave --device out to run on the CPU")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0")
    return parsed


def native_bfloat16_on(device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware: :func:`~mgmtfeat.backbones.cpu.native_bfloat16` on a
    CPU, ``torch.cuda.is_bf16_supported()`` on a GPU, False elsewhere."""
    import torch

    device = torch.device(device)
    if device.type == "cpu":
        return cpu.native_bfloat16()
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False
