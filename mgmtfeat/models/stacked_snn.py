"""The linear-encoder SNN's ensemble members as one network, trained together.

Every parameter has a leading member axis (K, ...), so one forward/backward per mini-batch trains
all K members at once instead of K small ones in turn. A member's initial weights are drawn from its
own generator alone, in a fixed order, so they are the same whether it is built with the others or
by itself; :mod:`mgmtfeat.models.stacked_training` trains the members (each with its own batches,
masks and early stopping) so that the two give the same networks up to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_aten = torch.ops.aten  # the kernels of autograd's own backward functions

__all__ = ["StackedSNN", "concatenate"]


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

    def _forward(self, x: torch.Tensor, masks: dict | None = None) -> dict:
        """The forward pass, keeping what :meth:`train_step`'s backward needs.

        x is input-major, (K, n_inputs, batch, size), so that with one encoder per input the
        K x n_inputs products are one batched matrix product on a view of the data (no copy).
        ``masks`` (training only; x already holds its input dropout) holds ``hidden`` (K, batch,
        hidden_size: dropout before the output layer, scaled) and ``keep`` (K, n_inputs, batch, bool:
        modality dropout), each None where that dropout is off.
        """
        masks = masks or {}
        K, G, batch, size = x.shape
        embed = self.enc_w.shape[-1]
        if self.enc_w.shape[1] == 1:  # one encoder for every input: (K, n_inputs * batch, size) @ (K, size, embed)
            flat = x.reshape(K, G * batch, size)
            h = torch.relu(torch.baddbmm(self.enc_b, flat, self.enc_w[:, 0]))
        else:
            flat = x.reshape(K * G, batch, size)
            h = torch.relu(torch.baddbmm(self.enc_b.reshape(K * G, 1, embed), flat,
                                         self.enc_w.reshape(K * G, size, embed))).view(K, G * batch, embed)
        a = torch.tanh(torch.baddbmm(self.att_b.unsqueeze(1), h, self.att_w))  # additive attention, (K, G * batch, A)
        scores = torch.baddbmm(self.score_b.unsqueeze(1), a, self.score_w).view(K, G, batch)
        if masks.get("keep") is not None:
            scores = scores.masked_fill(~masks["keep"], float("-inf"))
        w = torch.softmax(scores, dim=1)  # over the inputs
        fused = (w.unsqueeze(-1) * h.view(K, G, batch, embed)).sum(dim=1)
        z = torch.relu(torch.baddbmm(self.hid_b.unsqueeze(1), fused, self.hid_w))
        dropped = z if masks.get("hidden") is None else z * masks["hidden"]
        logits = torch.baddbmm(self.out_b.unsqueeze(1), dropped, self.out_w)  # (K, batch, n_outputs)
        return {"flat": flat, "h": h, "a": a, "w": w, "fused": fused, "z": z, "dropped": dropped, "logits": logits}

    def member_logits(self, x: torch.Tensor, masks: dict | None = None) -> torch.Tensor:
        """Logits of every member: x (K, n_inputs, batch, size) -> (K, batch) or (K, batch, n_outputs)."""
        logits = self._forward(x, masks)["logits"]
        return logits.squeeze(-1) if self.n_outputs == 1 else logits

    @torch.no_grad()
    def train_step(self, x: torch.Tensor, y: torch.Tensor, masks: dict | None = None) -> torch.Tensor:
        """Per-row losses (K, batch); sets every parameter's ``grad`` to that of the sum of the members' mean losses.

        The backward pass is written out (a test checks it against autograd's), with the kernels
        autograd's own backward functions use: at these sizes autograd's bookkeeping cost about a
        sixth of a training step. Members stay apart: each gradient is its own member's.
        """
        masks = masks or {}
        c = self._forward(x, masks)
        K, G, batch = c["w"].shape
        h, a, w, logits = c["h"], c["a"], c["w"], c["logits"]
        if self.n_outputs == 1:
            losses = F.binary_cross_entropy_with_logits(logits.squeeze(-1), y, reduction="none")
            d_logits = (torch.sigmoid(logits) - y.unsqueeze(-1)) / batch
        else:
            losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, batch)
            d_logits = (torch.softmax(logits, dim=-1) - F.one_hot(y, self.n_outputs)) / batch
        g = {"out_w": torch.bmm(c["dropped"].transpose(1, 2), d_logits), "out_b": d_logits.sum(1)}
        d_z = torch.bmm(d_logits, self.out_w.transpose(1, 2))
        if masks.get("hidden") is not None:
            d_z *= masks["hidden"]
        d_z = _aten.threshold_backward(d_z, c["z"], 0)  # relu's backward, one kernel
        g["hid_w"], g["hid_b"] = torch.bmm(c["fused"].transpose(1, 2), d_z), d_z.sum(1)
        d_fused = torch.bmm(d_z, self.hid_w.transpose(1, 2)).unsqueeze(1)  # (K, 1, batch, embed)
        d_w = (d_fused * h.view(K, G, batch, -1)).sum(-1)
        d_scores = _aten._softmax_backward_data(d_w, w, 1, w.dtype).view(K, G * batch, 1)
        g["score_w"], g["score_b"] = torch.bmm(a.transpose(1, 2), d_scores), d_scores.sum(1)
        d_a = _aten.tanh_backward(d_scores * self.score_w.transpose(1, 2), a)
        g["att_w"], g["att_b"] = torch.bmm(h.transpose(1, 2), d_a), d_a.sum(1)
        d_h = (w.unsqueeze(-1) * d_fused).view(K, G * batch, -1).baddbmm_(d_a, self.att_w.transpose(1, 2))
        d_h = _aten.threshold_backward(d_h, h, 0)
        if self.enc_w.shape[1] == 1:
            g["enc_w"], g["enc_b"] = torch.bmm(c["flat"].transpose(1, 2), d_h).unsqueeze(1), d_h.sum(1, keepdim=True)
        else:
            d_h = d_h.view(K * G, batch, -1)
            g["enc_w"] = torch.bmm(c["flat"].transpose(1, 2), d_h).view(self.enc_w.shape)
            g["enc_b"] = d_h.sum(1).view(self.enc_b.shape)
        for name, param in self.named_parameters():
            param.grad = g[name]
        return losses

    def _broadcast(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_inputs, size) -> the same for every member, input-major: (K, n_inputs, batch, size)."""
        x = x.transpose(0, 1)
        return x.unsqueeze(0).expand(self.n_members, *x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ensemble logits (mean over members): (batch, n_inputs, size) -> (batch,) or (batch, n_outputs)."""
        return self.member_logits(self._broadcast(x)).mean(0)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Mean attention weights over members, (batch, n_inputs)."""
        return self._forward(self._broadcast(x))["w"].mean(0).T

    def select_(self, members: torch.Tensor) -> StackedSNN:
        """Keep only ``members`` (indices, in that order), as new parameters: the others then cost nothing."""
        with torch.no_grad():
            for name, param in list(self.named_parameters()):
                setattr(self, name, nn.Parameter(param[members]))
        return self


def concatenate(stacks: list[StackedSNN]) -> StackedSNN:
    """One stack holding the members of several (trained one by one), in order.

    Parameters
    ----------
    stacks : list of StackedSNN
        Stacks of one architecture; each parameter has a leading member axis.

    Returns
    -------
    StackedSNN
        The first stack, its parameters now holding every stack's members along that axis.
    """
    first = stacks[0]
    if len(stacks) == 1:
        return first
    with torch.no_grad():
        for name, param in first.named_parameters():
            param.data = torch.cat([getattr(s, name).data for s in stacks])
    return first
