"""The linear-encoder SNN's ensemble members as one network, trained together.

Every parameter has a leading member axis (K, ...), so one forward/backward per mini-batch trains
all K members at once instead of K small ones in turn. A member's initial weights are drawn from its
own generator alone, in a fixed order, so they are the same whether it is built with the others or
by itself; :mod:`mgmtfeat.models._stacked_train` trains the members (each with its own batches,
masks and early stopping) so that the two give the same networks up to float rounding.
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

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """(K, n_inputs, batch, size) -> embeddings (K, n_inputs, batch, embed).

        Inputs come input-major so that, with one encoder per input, the K x n_inputs products are
        one batched matrix product on a view of the data (no copy).
        """
        K, G, batch, size = x.shape
        weight, bias = self.enc_w, self.enc_b
        embed = weight.shape[-1]
        if weight.shape[1] == 1:  # one encoder for every input: (K, n_inputs * batch, size) @ (K, size, embed)
            out = torch.baddbmm(bias, x.reshape(K, G * batch, size), weight[:, 0])
        else:
            out = torch.baddbmm(bias.reshape(K * G, 1, embed), x.reshape(K * G, batch, size),
                                weight.reshape(K * G, size, embed))
        return torch.relu(out).view(K, G, batch, embed)

    def _weights(self, embeddings: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Softmax attention over the inputs, (K, n_inputs, batch); ``keep`` (same shape) drops inputs."""
        K, G, batch, embed = embeddings.shape
        hidden = torch.tanh(torch.baddbmm(self.att_b.unsqueeze(1), embeddings.view(K, G * batch, embed), self.att_w))
        scores = torch.baddbmm(self.score_b.unsqueeze(1), hidden, self.score_w).view(K, G, batch)
        if keep is not None:
            scores = scores.masked_fill(~keep, float("-inf"))
        return torch.softmax(scores, dim=1)

    def member_logits(self, x: torch.Tensor, masks: dict | None = None) -> torch.Tensor:
        """Logits of every member: x (K, n_inputs, batch, size) -> (K, batch) or (K, batch, n_outputs).

        ``masks`` (training only; x already holds its input dropout) holds ``hidden`` (K, batch,
        hidden_size: dropout before the output layer, scaled) and ``keep`` (K, n_inputs, batch, bool:
        modality dropout), each None where that dropout is off.
        """
        masks = masks or {}
        embeddings = self._encode(x)
        fused = (self._weights(embeddings, masks.get("keep")).unsqueeze(-1) * embeddings).sum(dim=1)
        hidden = torch.relu(torch.baddbmm(self.hid_b.unsqueeze(1), fused, self.hid_w))
        if masks.get("hidden") is not None:
            hidden = hidden * masks["hidden"]
        logits = torch.baddbmm(self.out_b.unsqueeze(1), hidden, self.out_w)
        return logits.squeeze(-1) if self.n_outputs == 1 else logits

    def _broadcast(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_inputs, size) -> the same for every member, input-major: (K, n_inputs, batch, size)."""
        x = x.transpose(0, 1)
        return x.unsqueeze(0).expand(self.n_members, *x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ensemble logits (mean over members): (batch, n_inputs, size) -> (batch,) or (batch, n_outputs)."""
        return self.member_logits(self._broadcast(x)).mean(0)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Mean attention weights over members, (batch, n_inputs)."""
        return self._weights(self._encode(self._broadcast(x)), None).mean(0).T

    def select_(self, members: torch.Tensor) -> StackedSNN:
        """Keep only ``members`` (indices, in that order), as new parameters: the others then cost nothing."""
        with torch.no_grad():
            for name, param in list(self.named_parameters()):
                setattr(self, name, nn.Parameter(param[members]))
        return self


def concatenate(stacks: list[StackedSNN]) -> StackedSNN:
    """One stack holding the members of several (trained one by one), in order."""
    first = stacks[0]
    if len(stacks) == 1:
        return first
    with torch.no_grad():
        for name, param in first.named_parameters():
            param.data = torch.cat([getattr(s, name).data for s in stacks])
    return first
