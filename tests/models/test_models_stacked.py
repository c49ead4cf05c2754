"""The stacked SNN's training internals: its hand-written backward, its Adam and its dropout masks."""

import numpy as np
import pytest
import torch

from mgmtfeat.models.stacked_snn import StackedSNN
from mgmtfeat.models.stacked_training import StackedAdam, keep_mask


def _stack(shared=False, n_outputs=1, K=3, G=4, size=20):
    generators = [torch.Generator().manual_seed(k) for k in range(K)]
    return StackedSNN(generators, G, size, 6, 5, 7, n_outputs, shared, 0.5, 0.4, 0.3)


@pytest.mark.parametrize("shared, n_outputs, masked", [(False, 1, True), (True, 1, True), (False, 3, False),
                                                       (True, 3, True)])
def test_train_step_gradients_are_autograds(shared, n_outputs, masked):
    """train_step's written-out backward gives autograd's gradients of the sum of the members' mean losses."""
    module, rng = _stack(shared, n_outputs), torch.Generator().manual_seed(0)
    K, G, batch = 3, 4, 9
    x = torch.randn(K, G, batch, 20, generator=rng) * (torch.rand(K, G, batch, 20, generator=rng) > 0.5)
    y = torch.randint(n_outputs if n_outputs > 1 else 2, (K, batch), generator=rng)
    y = y.float() if n_outputs == 1 else y
    masks = {}
    if masked:
        keep = torch.rand(K, G, batch, generator=rng) > 0.3
        keep[:, 0] = True  # never every input dropped
        masks = {"hidden": (torch.rand(K, batch, 7, generator=rng) > 0.4) / 0.6, "keep": keep}
    logits = module.member_logits(x, masks)
    if n_outputs == 1:
        rows = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    else:
        rows = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, batch)
    rows.mean(1).sum().backward()
    expected = {name: p.grad.clone() for name, p in module.named_parameters()}
    losses = module.train_step(x, y, masks)
    # the stacked step computes the same float32 losses and gradients with batched kernels: sums in another
    # order (and by the CPU's vector width), a few ulp of losses ~1 (1e-5) and of gradients summed over the
    # batch (1e-4 relative, 1e-6 absolute near 0); a member mixed with another is off by its own size
    torch.testing.assert_close(losses, rows.detach(), rtol=1e-5, atol=1e-5)
    for name, param in module.named_parameters():
        assert param.grad.shape == param.shape
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_stacked_adam_is_torch_fused_adam():
    """The training loop's direct call of the fused kernel updates exactly as torch.optim.Adam(fused=True)."""
    start = [torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), torch.randn(3)]
    ours, theirs = [torch.nn.Parameter(p.clone()) for p in start], [torch.nn.Parameter(p.clone()) for p in start]
    ours_adam = StackedAdam(ours, lr=1e-2, weight_decay=1e-2)
    torch_adam = torch.optim.Adam(theirs, lr=1e-2, weight_decay=1e-2, fused=True)
    for step in range(5):
        for params, adam in ((ours, ours_adam), (theirs, torch_adam)):
            adam.zero_grad()
            sum(((p - step) ** 2).sum() for p in params).backward()
            adam.step()
    for a, b in zip(ours, theirs):  # the same fused kernel on the same numbers: bit-identical
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("p", [0.5, 0.4, 0.25, 0.3])
def test_keep_mask_keeps_one_minus_p(p):
    keep = keep_mask(np.random.default_rng(0), (200, 1000), p)
    assert keep.shape == (200, 1000) and keep.dtype == bool
    assert abs(keep.mean() - (1 - p)) < 0.005  # 200,000 draws: SD 0.0011
    assert not np.array_equal(keep, keep_mask(np.random.default_rng(1), (200, 1000), p))
