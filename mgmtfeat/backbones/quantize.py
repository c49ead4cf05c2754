"""int8, an opt-in dtype: a network's linears dynamically quantised (``create_backbone(..., dtype="int8")``).

Each ``nn.Linear`` gets int8 weights (one symmetric scale per weight tensor) and quantises its input
to int8 per call (its range measured on the call's values), accumulates
in int32 and returns float32; everything else (embedding, layer norms, attention products, softmax)
stays float32. It is what serves the CPU today: ``torch.ao.quantization.quantize_dynamic`` (fbgemm /
oneDNN int8 kernels). That API is deprecated in favour of torchao, but torchao 0.18's CPU path for the
same scheme (``Int8DynamicActivationInt8WeightConfig``) ran ViViT's MLP 25-40x slower than float32
(no eager int8 CPU kernel; docs/speed.md), so it does not serve here.

Only networks whose work is in linears gain: ViViT (533 of its 903 GFLOP per clip). The 3D CNNs'
work is in convolutions, which dynamic quantisation leaves alone, so int8 is refused for them.
Like bfloat16 it is gated by a recorded concordance (Lin's CCC) of its logits with float32's, at
least :data:`INT8_MIN_CCC`, and ``dtype="auto"`` never chooses it.
"""

from __future__ import annotations

__all__ = ["INT8_CCC", "INT8_MIN_CCC", "check_int8", "quantize_linears", "int8_record"]

#: int8 is refused for a net whose recorded int8-vs-float32 CCC is under this (as bfloat16's gate).
INT8_MIN_CCC = 0.999

#: int8-vs-float32 CCC of the logits per net: ViViT-B at full size (32 x 224 px), random weights (seed 0),
#: one clip of benchmarks/bench_backbones.py's smooth pseudo-volumes, fused network (0.9991 unfused)
#: (``bench_backbones.py --nets vivit --dtypes float32 int8 --layouts contiguous --fuse off on --clips 1``
#: ``--repeats 2 --forward-only``).
INT8_CCC = {"vivit": 0.9993}

_METHOD = ("dynamic int8 quantisation of every nn.Linear (torch.ao.quantization.quantize_dynamic, qint8 "
           "weights, activations quantised per call, int32 accumulation); the rest in float32")


def check_int8(name: str, device) -> None:
    """Raise ValueError unless ``dtype="int8"`` is allowed for backbone ``name`` on ``device``."""
    import torch

    if torch.device(device).type != "cpu":
        raise ValueError(f"dtype='int8' for {name!r} on device {device!r}: dynamic int8 quantisation runs on "
                         "the CPU only; use --device cpu, or float32 / bfloat16 on the GPU")
    ccc = INT8_CCC.get(name)
    if ccc is None:
        raise ValueError(
            f"dtype='int8' is not available for {name!r}: int8 quantises linears, and only "
            f"{', '.join(sorted(INT8_CCC))} has its work there and a measured int8-vs-float32 concordance; "
            "use float32 (or bfloat16 on a CPU with native bfloat16)")
    if ccc < INT8_MIN_CCC:
        raise ValueError(f"dtype='int8' for {name!r}: its recorded int8-vs-float32 CCC {ccc} is under "
                         f"{INT8_MIN_CCC}; use float32")


def quantize_linears(module):
    """``module`` with every ``nn.Linear`` replaced by a dynamically quantised int8 one (in place).

    Parameters
    ----------
    module : torch.nn.Module
        A float32 network in eval mode.

    Returns
    -------
    torch.nn.Module
        The same module; a linear maps float32 (..., in) to float32 (..., out) as before.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecat.*")  # see the module docstring
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def int8_record(name: str) -> dict:
    """What provenance records of an int8 network: the method, the engine and the gate's CCC."""
    import torch

    return {"method": _METHOD, "engine": torch.backends.quantized.engine, "ccc_vs_float32": INT8_CCC.get(name),
            "min_ccc": INT8_MIN_CCC}
