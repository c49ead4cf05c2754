"""benchmarks/bench_snn_step.py: the encoder products it times are the step's, and it leaves torch as it was."""

from pathlib import Path

import torch

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_snn_step.py"


def test_times_the_encoder_products_of_real_steps_and_restores_torch():
    bench = load_script(SCRIPT)
    bmm, baddbmm = torch.bmm, torch.baddbmm
    stack, adam, x, y, hidden, batch = bench.build(64, 5, 400)
    before = stack.enc_w.detach().clone()
    with torch.no_grad():
        inside = bench.in_step_ms(stack, adam, x, y, hidden, batch, epochs=1)
        alone = bench.alone_ms(stack, x, batch, rounds=2)
    assert torch.bmm is bmm and torch.baddbmm is baddbmm
    assert set(inside) == set(alone) == {bench.FORWARD, bench.GRADIENT}
    assert all(v > 0 for v in [*inside.values(), *alone.values()])
    assert not torch.equal(stack.enc_w, before)  # the steps trained: Adam moved the encoder weights
    # 5 x 5 encoders of 400 x 50 (2 MB) dominate: weights read, gradient written, Adam's 7 passes,
    # plus the batch (1.28 MB) read twice: about 21 MB
    assert 20 < bench.step_megabytes(stack, batch) < 22
