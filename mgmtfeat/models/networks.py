"""torch modules of the SNN and the MLP (imported only when a model is fitted, so torch loads lazily).

They live at module level so fitted estimators can be pickled and sent to worker processes.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["embedding_size", "ResidualBlock", "ConvEncoder", "SNNNetwork", "mlp_network", "AverageNetwork"]


def embedding_size(input_size: int, n_blocks: int) -> int:
    """Length after the stride-2 stem and ``n_blocks`` poolings by 2 (rounding up): 400 -> 50 for 2 blocks.

    Parameters
    ----------
    input_size : int
        Features per input.
    n_blocks : int
        Residual blocks of the conv encoder, each followed by a pooling by 2.

    Returns
    -------
    int
        The embedding length per input.
    """
    for _ in range(n_blocks + 1):
        input_size = -(-input_size // 2)
    return input_size


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input, then ReLU; ``groups`` keeps branches apart."""

    def __init__(self, width: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(width, width, 3, padding=1, groups=groups, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=1, groups=groups, bias=False),
            nn.BatchNorm1d(width),
        )

    def forward(self, x):
        return torch.relu(x + self.body(x))


class ConvEncoder(nn.Module):
    """(batch, n_inputs, input_size) -> (batch, n_inputs, embed) by a 1-D conv residual network.

    With ``shared`` one network encodes every branch (inputs folded into the batch); otherwise
    grouped convolutions give each branch its own weights in a single pass.
    """

    def __init__(self, n_inputs: int, channels: int, n_blocks: int, shared: bool, input_dropout: float):
        super().__init__()
        self.n_inputs, self.shared = n_inputs, shared
        groups = 1 if shared else n_inputs
        width = channels * groups
        # a strided stem halves the length first: the residual blocks then run on 200 values, not 400
        layers = [nn.Dropout(input_dropout), nn.Conv1d(groups, width, 7, stride=2, padding=3, groups=groups, bias=False),
                  nn.BatchNorm1d(width), nn.ReLU()]
        for _ in range(n_blocks):
            layers += [ResidualBlock(width, groups), nn.MaxPool1d(2, ceil_mode=True)]
        layers.append(nn.Conv1d(width, groups, 1, groups=groups))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        batch = x.shape[0]
        if self.shared:
            return self.net(x.reshape(batch * self.n_inputs, 1, -1)).reshape(batch, self.n_inputs, -1)
        return self.net(x)


class SNNNetwork(nn.Module):
    """Branch encoders, additive self-attention over branches, a dense layer and one logit."""

    def __init__(self, encoder: nn.Module, n_inputs: int, embed: int, attention_size: int, hidden_size: int,
                 dropout: float, modality_dropout: float, n_outputs: int = 1):
        super().__init__()
        self.encoder, self.n_inputs, self.modality_dropout = encoder, n_inputs, modality_dropout
        self.score = nn.Sequential(nn.Linear(embed, attention_size), nn.Tanh(), nn.Linear(attention_size, 1))
        self.head = nn.Sequential(nn.Linear(embed, hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden_size, n_outputs))
        self.n_outputs = n_outputs

    def _weights(self, embeddings):
        scores = self.score(embeddings).squeeze(-1)
        if self.training and self.modality_dropout > 0 and self.n_inputs > 1:
            keep = torch.rand(scores.shape) >= self.modality_dropout
            keep[torch.arange(len(keep)), torch.randint(self.n_inputs, (len(keep),))] = True  # never drop all
            scores = scores.masked_fill(~keep, float("-inf"))
        return torch.softmax(scores, dim=1)

    def attention(self, x):
        """Softmax weights over branches, shape (batch, n_inputs)."""
        return self._weights(self.encoder(x))

    def forward(self, x):
        embeddings = self.encoder(x)
        fused = (self._weights(embeddings).unsqueeze(-1) * embeddings).sum(dim=1)
        logits = self.head(fused)
        return logits.squeeze(-1) if self.n_outputs == 1 else logits


def mlp_network(n_features: int, hidden_sizes, dropout: float, n_outputs: int = 1) -> nn.Module:
    """Flatten, hidden layers with ReLU and dropout, then logits: (batch, ...) -> (batch,) or (batch, n_outputs).

    Parameters
    ----------
    n_features : int
        Values per case after flattening.
    hidden_sizes : sequence of int
        Units of the hidden layers, in order.
    dropout : float
        Dropout after each hidden layer.
    n_outputs : int
        1 (one logit, two classes; the output is flattened to (batch,)) or the number of classes.

    Returns
    -------
    torch.nn.Sequential
    """
    layers: list = [nn.Flatten()]
    for size in hidden_sizes:
        layers += [nn.Linear(n_features, size), nn.ReLU(), nn.Dropout(dropout)]
        n_features = size
    layers.append(nn.Linear(n_features, n_outputs))
    if n_outputs == 1:
        layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)


class AverageNetwork(nn.ModuleList):
    """Ensemble whose logits and attention are the mean of its members'.

    Built like ``torch.nn.ModuleList`` from the members; each maps (batch, n_inputs, input_size)
    to logits of one shape.
    """

    def forward(self, x):
        """Mean logits, the members' shape: (batch,) or (batch, n_outputs)."""
        return torch.stack([m(x) for m in self]).mean(0)

    def attention(self, x):
        """Mean attention weights over the inputs, (batch, n_inputs) (members with ``attention`` only)."""
        return torch.stack([m.attention(x) for m in self]).mean(0)
