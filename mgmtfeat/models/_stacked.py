"""The linear-encoder SNN's ensemble members as one network, trained together.

Every parameter has a leading member axis (K, ...), so one forward/backward per mini-batch trains
all K members at once instead of K small ones in turn. Each member keeps its own generator: its
initial weights, batch order and dropout masks are drawn from it alone, in the same order whether
it is trained with the others or by itself, so the two give the same networks up to float rounding.
The loss is the sum of the members' losses, so each member's gradient is its own, and Adam, which
works element by element, updates each member exactly as if it were alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["StackedSNN"]


def _uniform(generator: torch.Generator, shape: tuple, fan_in: int) -> torch.Tensor:
    """torch.nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from ``generator``."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


class StackedSNN(nn.Module):
    """K SNNs (linear branch encoders, additive attention, a dense layer) with stacked parameters.

    Parameters
    ----------
    generators : list of torch.Generator
        One per member; the member's initial weights are drawn from it.
    n_inputs, input_size : int
        Branches and features per branch of X of shape (batch, n_inputs, input_size).
    embed, attention_size, hidden_size, n_outputs : int
        Widths; ``n_outputs`` is 1 (one logit, two classes) or the number of classes.
    shared : bool
        One encoder for every branch (Siamese) or one per branch.
    input_dropout, dropout, modality_dropout : float
        Dropout on the inputs, before the output layer, and of whole branches from the attention.
    """

    def __init__(self, generators, n_inputs: int, input_size: int, embed: int, attention_size: int, hidden_size: int,
                 n_outputs: int, shared: bool, input_dropout: float, dropout: float, modality_dropout: float):
        super().__init__()
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self.input_dropout, self.dropout, self.modality_dropout = input_dropout, dropout, modality_dropout
        maps = 1 if shared else n_inputs
        shapes = {  # name: (shape per member, fan-in or None for the encoder's scaled normal)
            "enc_w": ((maps, input_size, embed), None), "enc_b": ((maps, embed), 0),
            "att_w": ((embed, attention_size), embed), "att_b": ((attention_size,), embed),
            "score_w": ((attention_size, 1), attention_size), "score_b": ((1,), attention_size),
            "hid_w": ((embed, hidden_size), embed), "hid_b": ((hidden_size,), embed),
            "out_w": ((hidden_size, n_outputs), hidden_size), "out_b": ((n_outputs,), hidden_size),
        }
        per_member = {name: [] for name in shapes}
        for g in generators:  # member by member, in a fixed order, so a member's weights depend on its seed only
            for name, (shape, fan_in) in shapes.items():
                if fan_in is None:
                    value = torch.randn(shape, generator=g) / input_size**0.5
                elif fan_in == 0:
                    value = torch.zeros(shape)
                else:
                    value = _uniform(g, shape, fan_in)
                per_member[name].append(value)
        for name, values in per_member.items():
            setattr(self, name, nn.Parameter(torch.stack(values)))

    @property
    def n_members(self) -> int:
        return self.enc_w.shape[0]

    def draw_masks(self, batch: int, generators) -> dict:
        """Training-time dropout masks of each member, drawn from its own generator (in a fixed order)."""
        size, hidden = self.enc_w.shape[2], self.hid_w.shape[2]
        masks = {"input": [], "hidden": [], "keep": []}
        for g in generators:
            masks["input"].append(_dropout_mask((batch, self.n_inputs, size), self.input_dropout, g))
            masks["hidden"].append(_dropout_mask((batch, hidden), self.dropout, g))
            keep = torch.ones((batch, self.n_inputs), dtype=torch.bool)
            if self.modality_dropout > 0 and self.n_inputs > 1:
                keep = torch.rand((batch, self.n_inputs), generator=g) >= self.modality_dropout
                keep[torch.arange(batch), torch.randint(self.n_inputs, (batch,), generator=g)] = True  # never drop all
            masks["keep"].append(keep)
        return {name: torch.stack(values) for name, values in masks.items()}

    def _encode(self, x: torch.Tensor, masks: dict | None) -> torch.Tensor:
        """(K, batch, n_inputs, size) -> embeddings (K, batch, n_inputs, embed)."""
        if masks is not None and self.input_dropout > 0:
            x = x * masks["input"]
        weight = self.enc_w.expand(-1, self.n_inputs, -1, -1)
        bias = self.enc_b.expand(-1, self.n_inputs, -1)
        return torch.relu(torch.einsum("kbgi,kgie->kbge", x, weight) + bias[:, None])

    def _weights(self, embeddings: torch.Tensor, masks: dict | None) -> torch.Tensor:
        """Softmax attention over branches, (K, batch, n_inputs)."""
        hidden = torch.tanh(torch.einsum("kbge,kea->kbga", embeddings, self.att_w) + self.att_b[:, None, None])
        scores = (torch.einsum("kbga,kao->kbgo", hidden, self.score_w) + self.score_b[:, None, None]).squeeze(-1)
        if masks is not None and self.modality_dropout > 0 and self.n_inputs > 1:
            scores = scores.masked_fill(~masks["keep"], float("-inf"))
        return torch.softmax(scores, dim=-1)

    def member_logits(self, x: torch.Tensor, masks: dict | None = None) -> torch.Tensor:
        """Logits of every member: x (K, batch, n_inputs, size) -> (K, batch) or (K, batch, n_outputs)."""
        embeddings = self._encode(x, masks)
        fused = (self._weights(embeddings, masks).unsqueeze(-1) * embeddings).sum(dim=2)
        hidden = torch.relu(torch.einsum("kbe,keh->kbh", fused, self.hid_w) + self.hid_b[:, None])
        if masks is not None and self.dropout > 0:
            hidden = hidden * masks["hidden"]
        logits = torch.einsum("kbh,kho->kbo", hidden, self.out_w) + self.out_b[:, None]
        return logits.squeeze(-1) if self.n_outputs == 1 else logits

    def _broadcast(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand(self.n_members, *x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ensemble logits (mean over members): (batch, n_inputs, size) -> (batch,) or (batch, n_outputs)."""
        return self.member_logits(self._broadcast(x)).mean(0)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Mean attention weights over members, (batch, n_inputs)."""
        return self._weights(self._encode(self._broadcast(x), None), None).mean(0)


def _dropout_mask(shape: tuple, p: float, generator: torch.Generator) -> torch.Tensor:
    """Inverted-dropout mask (kept entries scaled by 1 / (1 - p)); ones when p is 0 (nothing drawn)."""
    if p <= 0:
        return torch.ones(shape)
    return (torch.rand(shape, generator=generator) >= p).float() / (1.0 - p)


def concatenate(stacks: list[StackedSNN]) -> StackedSNN:
    """One stack holding the members of several (trained one by one), in order."""
    first = stacks[0]
    if len(stacks) == 1:
        return first
    with torch.no_grad():
        for name, param in first.named_parameters():
            param.data = torch.cat([getattr(s, name).data for s in stacks])
    return first


def train_stacked(module: StackedSNN, generators, inputs, target, splits, *, learning_rate: float, weight_decay: float,
                  batch_size: int, max_epochs: int, patience: int):
    """Train every member of ``module`` at once, each with its own rows, batches, masks and early stopping.

    Parameters
    ----------
    module : StackedSNN
        K members, initialised from ``generators``.
    generators : list of torch.Generator
        One per member; batch order and dropout masks are drawn from it.
    inputs : np.ndarray of float32, shape (n_cases, n_inputs, input_size)
    target : np.ndarray, shape (n_cases,)
        float32 0/1 for one logit, int64 class indices otherwise.
    splits : list of (train_rows, val_rows or None)
        Per member; every member has the same number of training rows.

    Returns
    -------
    list of dict
        Per member, per-epoch ``loss`` and ``val_loss``; the module holds each member's best epoch.
    """
    import numpy as np
    import torch.nn.functional as F

    n_members = len(generators)
    X_all, y_all = torch.from_numpy(inputs), torch.from_numpy(target)
    train = torch.stack([torch.from_numpy(np.asarray(t)) for t, _ in splits])  # (K, n_train)
    val = None if splits[0][1] is None else torch.stack([torch.from_numpy(np.asarray(v)) for _, v in splits])

    def losses(logits, y):  # per member, mean over its rows: (K,)
        if module.n_outputs == 1:
            return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(1)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)

    # fused: one kernel for all parameters; the stacked encoder alone holds K x 100,000 weights
    optimiser = torch.optim.Adam(module.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=True)
    history = [{"loss": [], "val_loss": []} for _ in range(n_members)]
    best = [None] * n_members
    best_loss, waited, active = [np.inf] * n_members, [0] * n_members, [True] * n_members
    for _ in range(max_epochs):
        if not any(active):
            break
        module.train()
        order = torch.stack([train[k][torch.randperm(train.shape[1], generator=g)] for k, g in enumerate(generators)])
        total = torch.zeros(n_members)
        for batch in order.split(batch_size, dim=1):
            if batch.shape[1] < 2:
                continue  # as the one-network loop, which cannot batch-normalise a single row
            optimiser.zero_grad()
            member_loss = losses(module.member_logits(X_all[batch], module.draw_masks(batch.shape[1], generators)),
                                 y_all[batch])
            member_loss.sum().backward()  # the sum keeps each member's gradient its own
            optimiser.step()
            total += member_loss.detach() * batch.shape[1]
        for k in range(n_members):
            if active[k]:
                history[k]["loss"].append(float(total[k]) / train.shape[1])
        if val is None:
            continue
        module.eval()
        with torch.no_grad():
            val_loss = losses(module.member_logits(X_all[val]), y_all[val])
        for k in range(n_members):
            if not active[k]:
                continue  # a stopped member trains on with the others, but its best weights are kept aside
            history[k]["val_loss"].append(float(val_loss[k]))
            if float(val_loss[k]) < best_loss[k] - 1e-4:
                best_loss[k], waited[k] = float(val_loss[k]), 0
                best[k] = {name: p.detach()[k].clone() for name, p in module.named_parameters()}
            else:
                waited[k] += 1
                active[k] = waited[k] < patience
    with torch.no_grad():
        for k, state in enumerate(best):
            if state is not None:
                for name, p in module.named_parameters():
                    p[k] = state[name]
    module.eval()
    return history
