"""Why an SNN training step is slower than its arithmetic: the encoder products inside a step and alone.

    python benchmarks/bench_snn_step.py

Builds the registry's ``snn`` as it trains on the published features (5 members, 5 inputs of 400
features, linear encoders of 50, batch 32, 462 training rows), runs training steps with Adam on
random rows (one torch thread), and times the two encoder products (the
forward ``baddbmm`` and the weight gradient ``bmm``, 25 products of 32 x 400 by 400 x 50 each)
inside the steps, each call timed alone. Then it times the same two products called again and
again on the same arrays, plain and after a pass over as many bytes as one step moves in the
encoders and Adam (weights, gradient, both moments: about 20 MB, forty times the 0.5 MB of L2 a
core has here), and prints the three with the ratio inside / alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mgmtfeat.models import make_model
from mgmtfeat.models.stacked_snn import StackedSNN
from mgmtfeat.models.stacked_training import StackedAdam

FORWARD, GRADIENT = "aten::baddbmm", "aten::bmm"


def build(n_train: int, n_inputs: int, size: int):
    """The registry's SNN as a stack, its Adam, and an epoch of random rows (K, inputs, n_train, size)."""
    p = make_model("snn").get_params()
    stack = StackedSNN([torch.Generator().manual_seed(i) for i in range(p["n_members"])], n_inputs, size, 50,
                       p["attention_size"], p["hidden_size"], 1, p["shared"], p["input_dropout"], p["dropout"],
                       p["modality_dropout"])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(p["n_members"], n_inputs, n_train, size, generator=gen)
    y = (torch.rand(p["n_members"], n_train, generator=gen) > 0.5).float()
    hidden = torch.ones(p["n_members"], n_train, p["hidden_size"])
    return stack, StackedAdam(stack.parameters(), p["learning_rate"], p["weight_decay"]), x, y, hidden, p["batch_size"]


def epoch(stack, adam, x, y, hidden, batch):
    """One pass over the rows: forward, written-out backward and Adam per mini-batch."""
    for start in range(0, x.shape[2] - batch + 1, batch):
        rows = slice(start, start + batch)
        stack.train_step(x[:, :, rows], y[:, rows], {"hidden": hidden[:, rows], "keep": None})
        adam.step()


def in_step_ms(stack, adam, x, y, hidden, batch, epochs: int) -> dict:
    """Mean ms per call of the two encoder products inside training steps (the calls timed one by one)."""
    n_products = stack.enc_w.shape[0] * stack.enc_w.shape[1]
    first = {FORWARD: (n_products, batch, x.shape[3]), GRADIENT: (n_products, x.shape[3], batch)}
    seconds = {FORWARD: [], GRADIENT: []}
    originals = {FORWARD: torch.baddbmm, GRADIENT: torch.bmm}

    def timed(name):
        def call(*args, **kwargs):
            if tuple(args[1 if name == FORWARD else 0].shape) != first[name]:
                return originals[name](*args, **kwargs)
            start = time.perf_counter()
            out = originals[name](*args, **kwargs)
            seconds[name].append(time.perf_counter() - start)
            return out
        return call

    torch.baddbmm, torch.bmm = timed(FORWARD), timed(GRADIENT)
    try:
        for _ in range(epochs):
            epoch(stack, adam, x, y, hidden, batch)
    finally:
        torch.baddbmm, torch.bmm = originals[FORWARD], originals[GRADIENT]
    return {name: float(np.mean(values)) * 1e3 for name, values in seconds.items()}


def alone_ms(stack, x, batch, sweep: torch.Tensor | None = None, rounds: int = 200) -> dict:
    """Best-of-five mean ms of the same two products called alone on the same arrays.

    With ``sweep``, the array is scaled in place before each call (not timed): a pass over that much
    memory, which leaves the cache as a step's other work leaves it.
    """
    K, G = stack.enc_w.shape[:2]
    flat = x[:, :, :batch].reshape(K * G, batch, x.shape[3])
    weight = stack.enc_w.detach().reshape(K * G, *stack.enc_w.shape[2:])
    bias = stack.enc_b.detach().reshape(K * G, 1, -1)
    d_h = torch.randn(K * G, batch, weight.shape[2])
    calls = {FORWARD: lambda: torch.baddbmm(bias, flat, weight), GRADIENT: lambda: torch.bmm(flat.transpose(1, 2), d_h)}
    out = {}
    for name, call in calls.items():
        held = call()  # a step holds its gradient until the next replaces it: so does this loop
        best = np.inf
        for _ in range(5):
            total = 0.0
            for _ in range(rounds):
                if sweep is not None:
                    sweep.mul_(1.0)
                start = time.perf_counter()
                held = call()
                total += time.perf_counter() - start
            best = min(best, total / rounds)
        out[name] = best * 1e3
        del held
    return out


def step_megabytes(stack, batch: int) -> float:
    """MB one step moves in the encoders and Adam: the batch read twice, the weights read, the gradient
    written, Adam reading parameters, gradients and both moments and writing parameters and moments."""
    params = sum(p.numel() for p in stack.parameters()) * 4
    x = stack.enc_w.shape[0] * stack.enc_w.shape[1] * batch * stack.enc_w.shape[2] * 4
    return (2 * x + params + params + 4 * params + 3 * params) / 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs profiled (default 10)")
    parser.add_argument("--train-rows", type=int, default=462, help="training rows per member (default 462)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    stack, adam, x, y, hidden, batch = build(args.train_rows, 5, 400)
    with torch.no_grad():
        epoch(stack, adam, x, y, hidden, batch)  # warm-up
        inside = in_step_ms(stack, adam, x, y, hidden, batch, args.epochs)
        alone = alone_ms(stack, x, batch)
        moved = step_megabytes(stack, batch)
        swept = alone_ms(stack, x, batch, sweep=torch.ones(int(moved * 1e6 / 4)))
    print(f"one torch thread; {stack.n_members} members x 5 inputs, batch {batch}; a step moves about "
          f"{moved:.0f} MB in the encoders and Adam")
    print(f"| product | ms inside a step | ms alone | ms alone after a {moved:.0f} MB sweep | inside / alone |")
    print("|---|---|---|---|---|")
    for name, label in ((FORWARD, "encoder forward (baddbmm)"), (GRADIENT, "encoder weight gradient (bmm)")):
        print(f"| {label} | {inside[name]:.3f} | {alone[name]:.3f} | {swept[name]:.3f} | "
              f"{inside[name] / alone[name]:.2f} |")


if __name__ == "__main__":
    main()
