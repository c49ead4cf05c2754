"""The paper's MLP baseline: two hidden layers (100 and 32 units) with dropout 0.4."""

from __future__ import annotations

from mgmtfeat.models.torch_classifier import TorchClassifier

__all__ = ["MLPClassifier"]


class MLPClassifier(TorchClassifier):
    """Two-hidden-layer perceptron on the concatenated inputs (the paper uses T1wCE alone).

    Parameters
    ----------
    hidden_sizes : tuple of int
        Units of the hidden layers.
    dropout : float
        Dropout after each hidden layer.

    Notes
    -----
    The other parameters are as in :class:`mgmtfeat.models.SNNClassifier` (``standardize``,
    ``learning_rate``, ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience``,
    ``validation_fraction``, ``n_members``, ``n_threads``, ``random_state``).
    """

    input_size = None  # all columns form one input

    def __init__(self, hidden_sizes=(100, 32), dropout=0.4, standardize=True, learning_rate=1e-3,
                 weight_decay=1e-4, batch_size=32, max_epochs=100, patience=10, validation_fraction=0.15,
                 n_members=1, n_threads=1, random_state=None):
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
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

    def _build_module(self, n_inputs: int, input_size: int, n_outputs: int = 1):
        from mgmtfeat.models.networks import mlp_network

        return mlp_network(n_inputs * input_size, self.hidden_sizes, self.dropout, n_outputs)
