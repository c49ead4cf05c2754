"""Siamese network with self-attention fusion over per-input branches (the paper's SNN).

Each input (a modality's 400 features) passes a branch encoder to a 50-value embedding; additive
attention scores each embedding, a softmax over branches weights them, and their weighted sum
passes a 32-unit dense layer to one logit. Two encoders are offered: the paper's 1-D convolutional
residual encoder (a strided conv stem, then conv + batch-norm + ReLU residual blocks with
max-pooling, 400 -> 200 -> 100 -> 50) and a linear encoder (400 -> 50, ReLU). With
``shared=True`` every branch uses one encoder (Siamese); otherwise each input has its own.
"""

from __future__ import annotations

import numpy as np

from mgmtfeat.models.torch_classifier import TorchClassifier

__all__ = ["SNNClassifier"]


class SNNClassifier(TorchClassifier):
    """Siamese network with self-attention fusion, a scikit-learn binary classifier.

    Parameters
    ----------
    input_size : int, list of int or None
        Features per input; X of shape (n_cases, n_inputs * input_size) is read as n_inputs
        branches. A list gives each input its own length (e.g. ``[400, 107]`` for I3D and radiomics
        features, X of shape (n_cases, 507)): inputs are zero-padded to the longest and, when the
        lengths differ, every input gets its own encoder whatever ``shared`` says (one encoder
        cannot read logits and radiomics features alike). None treats all columns as one input.
    encoder : {"conv", "linear"}
        Branch encoder: the paper's 1-D conv residual network, or one linear map.
    shared : bool
        One encoder for all branches (Siamese, the default) or one encoder per branch.
    channels : int
        Convolution channels per branch (conv encoder).
    n_blocks : int
        Residual blocks, each followed by max-pooling by 2, after a stem of stride 2
        (2 blocks: 400 -> 200 -> 100 -> 50). Also sets the linear encoder's output size.
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
    n_members : int
        Networks trained from different seeds and validation splits, logits averaged.
    stack_members : bool
        Linear encoder: train the members as one network with stacked weights (one forward/backward
        per batch for all), else one after the other; both give the same members up to float rounding.
    n_threads : int or None
        torch threads while fitting and predicting (None leaves torch's setting).
    random_state : int, RandomState or None
        Seed of weights, validation split and batch order.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (best validation epoch; the average of the members).
    history_ : list of dict
        Per member, per-epoch ``loss`` and ``val_loss``.
    best_epoch_, n_epochs_ : list of int
        Per member, epoch restored and epochs run.
    fit_seconds_ : float
        Wall time of training.
    """

    def __init__(self, input_size=400, encoder="conv", shared=True, channels=8, n_blocks=2, modality_dropout=0.0,
                 attention_size=32, hidden_size=32, dropout=0.4, input_dropout=0.0, standardize=True,
                 learning_rate=1e-3, weight_decay=1e-4, batch_size=32, max_epochs=100, patience=10,
                 validation_fraction=0.15, n_members=1, stack_members=True, n_threads=1, random_state=None):
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
        self.stack_members = stack_members
        self.n_threads = n_threads
        self.random_state = random_state

    def _build_module(self, n_inputs: int, input_size: int, n_outputs: int = 1):
        from mgmtfeat.models import networks as nets

        if self.encoder != "conv":  # the linear encoder's members are built by _build_stack
            raise ValueError(f"SNNClassifier: encoder={self.encoder!r}; use 'conv' or 'linear'")
        embed = nets.embedding_size(input_size, self.n_blocks)
        encoder = nets.ConvEncoder(n_inputs, self.channels, self.n_blocks, self._shared(), self.input_dropout)
        return nets.SNNNetwork(encoder, n_inputs, embed, self.attention_size, self.hidden_size, self.dropout,
                               self.modality_dropout, n_outputs)

    def _stackable(self) -> bool:
        return self.encoder == "linear"

    def _build_stack(self, generators, n_inputs: int, input_size: int, n_outputs: int):
        from mgmtfeat.models import networks as nets
        from mgmtfeat.models.stacked_snn import StackedSNN

        embed = max(nets.embedding_size(input_size, self.n_blocks), 8)  # room for several classes on short inputs
        return StackedSNN(generators, n_inputs, input_size, embed, self.attention_size, self.hidden_size, n_outputs,
                          self._shared(), self.input_dropout, self.dropout, self.modality_dropout)

    def _shared(self) -> bool:
        """``shared``, except for inputs of different lengths, which each need their own encoder."""
        sizes = self.input_size if isinstance(self.input_size, (list, tuple)) else ()
        return bool(self.shared) and len(set(sizes)) <= 1

    def attention_weights(self, X) -> np.ndarray:
        """Per-case attention weights over the inputs, shape (n_cases, n_inputs); rows sum to 1."""
        return self._forward(X, method="attention")
