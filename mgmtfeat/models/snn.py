"""Siamese network with self-attention fusion over per-input branches (the paper's SNN).

Each input (a modality's 400 features) passes a small 1-D convolutional residual encoder
(a strided conv stem, then conv + batch norm + ReLU residual blocks with max-pooling,
400 -> 50); additive attention scores
each branch embedding, a softmax over branches weights them, and their weighted sum passes a
32-unit dense layer to one logit. With ``shared=True`` all branches use one encoder (Siamese);
otherwise each input has its own, implemented as grouped convolutions so both run as one pass.
"""

from __future__ import annotations

import numpy as np

from ._torch import TorchBinaryClassifier

__all__ = ["SNNClassifier"]


def _build_snn(n_inputs: int, input_size: int, channels: int, n_blocks: int, shared: bool,
               attention_size: int, hidden_size: int, dropout: float, input_dropout: float,
               modality_dropout: float, encoder: str):
    import torch
    from torch import nn

    groups = 1 if shared else n_inputs

    class ResidualBlock(nn.Module):
        def __init__(self, width: int):
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

    class Encoder(nn.Module):
        """(batch, n_inputs, input_size) -> embeddings (batch, n_inputs, input_size / 2**(n_blocks + 1))."""

        def __init__(self):
            super().__init__()
            width = channels * groups
            # a strided stem halves the length first: the residual blocks then run on 200 values, not 400
            layers = [nn.Dropout(input_dropout),
                      nn.Conv1d(groups, width, 7, stride=2, padding=3, groups=groups, bias=False),
                      nn.BatchNorm1d(width), nn.ReLU()]
            for _ in range(n_blocks):
                layers += [ResidualBlock(width), nn.MaxPool1d(2)]
            layers.append(nn.Conv1d(width, groups, 1, groups=groups))
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            batch = x.shape[0]
            if shared:
                return self.net(x.reshape(batch * n_inputs, 1, -1)).reshape(batch, n_inputs, -1)
            return self.net(x)

    class LinearEncoder(nn.Module):
        """(batch, n_inputs, input_size) -> (batch, n_inputs, embed) through one linear map per branch."""

        def __init__(self, embed: int):
            super().__init__()
            self.dropout = nn.Dropout(input_dropout)
            self.weight = nn.Parameter(torch.randn(groups, input_size, embed) / input_size**0.5)
            self.bias = nn.Parameter(torch.zeros(groups, embed))

        def forward(self, x):
            return torch.relu(torch.einsum("bgi,gie->bge", self.dropout(x), self.weight.expand(n_inputs, -1, -1) if shared else self.weight) + self.bias)

    class SNN(nn.Module):
        def __init__(self):
            super().__init__()
            embed = input_size // 2 ** (n_blocks + 1)
            self.encoder = Encoder() if encoder == "conv" else LinearEncoder(embed)
            self.score = nn.Sequential(nn.Linear(embed, attention_size), nn.Tanh(), nn.Linear(attention_size, 1))
            self.head = nn.Sequential(nn.Linear(embed, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, 1))

        def attention(self, x):
            """Softmax weights over branches, (batch, n_inputs); dropped branches get weight 0 in training."""
            scores = self.score(self.encoder(x)).squeeze(-1)
            return torch.softmax(self._drop(scores), dim=1)

        def _drop(self, scores):
            if not (self.training and modality_dropout > 0 and n_inputs > 1):
                return scores
            keep = torch.rand(scores.shape) >= modality_dropout
            keep[torch.arange(len(keep)), torch.randint(n_inputs, (len(keep),))] = True  # never drop all
            return scores.masked_fill(~keep, float("-inf"))

        def forward(self, x):
            embeddings = self.encoder(x)
            weights = torch.softmax(self._drop(self.score(embeddings).squeeze(-1)), dim=1)
            fused = (weights.unsqueeze(-1) * embeddings).sum(dim=1)
            return self.head(fused).squeeze(-1)

    return SNN()


class SNNClassifier(TorchBinaryClassifier):
    """Siamese network with self-attention fusion, a scikit-learn binary classifier.

    Parameters
    ----------
    input_size : int or None
        Features per input; X of shape (n_cases, n_inputs * input_size) is read as n_inputs
        branches. None treats all columns as one input.
    shared : bool
        One encoder for all branches (Siamese, the default) or one encoder per branch.
    channels : int
        Convolution channels per branch.
    n_blocks : int
        Residual blocks, each followed by max-pooling by 2, after a stem of stride 2
        (2 blocks: 400 -> 200 -> 100 -> 50).
    modality_dropout : float
        Probability of dropping each branch from the attention during training (one always stays).
    attention_size, hidden_size : int
        Width of the additive attention and of the dense layer after fusion.
    dropout : float
        Dropout before the output layer.
    input_dropout : float
        Dropout on the (standardised) input features during training.
    standardize : bool
        Z-score each feature with the mean and SD of the training rows.
    learning_rate, weight_decay : float
        Adam settings.
    batch_size, max_epochs, patience : int
        Mini-batch size; epoch limit; epochs without validation improvement before stopping.
    validation_fraction : float
        Share of the training rows held out (stratified) for early stopping; 0 disables it.
    n_threads : int or None
        torch threads while fitting and predicting (None leaves torch's setting).
    random_state : int, RandomState or None
        Seed of weights, validation split and batch order.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (best validation epoch).
    history_ : dict
        Per-epoch ``loss`` and ``val_loss``.
    best_epoch_, n_epochs_ : int
        Epoch restored and epochs run.
    fit_seconds_ : float
        Wall time of the training loop.
    """

    def __init__(self, input_size=400, encoder="conv", shared=True, channels=8, n_blocks=2, modality_dropout=0.0,
                 attention_size=32, hidden_size=32, dropout=0.4, input_dropout=0.0, standardize=True, learning_rate=1e-3,
                 weight_decay=1e-4, batch_size=32, max_epochs=100, patience=10, validation_fraction=0.15,
                 n_members=1, n_threads=1, random_state=None):
        self.input_size = input_size
        self.encoder = encoder
        self.shared = shared
        self.channels = channels
        self.n_blocks = n_blocks
        self.modality_dropout = modality_dropout
        self.attention_size = attention_size
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.standardize = standardize
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_members = n_members
        self.n_threads = n_threads
        self.random_state = random_state

    def _build_module(self, n_inputs: int, input_size: int):
        factor = 2 ** (self.n_blocks + 1)
        if input_size % factor:
            raise ValueError(
                f"SNNClassifier: input_size {input_size} is not divisible by 2**(n_blocks + 1) = {factor}; "
                "lower n_blocks."
            )
        return _build_snn(n_inputs, input_size, self.channels, self.n_blocks, self.shared, self.attention_size,
                          self.hidden_size, self.dropout, self.input_dropout, self.modality_dropout,
                          self.encoder)

    def attention_weights(self, X) -> np.ndarray:
        """Per-case attention weights over the inputs, shape (n_cases, n_inputs); rows sum to 1."""
        return self._forward(X, method="attention")
