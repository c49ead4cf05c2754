"""The training loop shared by the torch estimators (SNN and MLP).

The estimators follow scikit-learn's contract: ``__init__`` stores parameters, ``fit`` validates and
sets attributes ending in ``_``. Training is CPU-only and deterministic for an integer
``random_state``: the torch seed, the validation split and the batch order all derive from it.
Early stopping watches a validation split carved from the training rows given to ``fit`` only.
"""

from __future__ import annotations

import contextlib
import copy
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["TorchClassifier", "average_members"]


@contextlib.contextmanager
def _torch_threads(n_threads: int | None):
    """Use ``n_threads`` torch threads inside the block, then restore the previous number."""
    import torch

    before = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """Base class: subclasses implement ``_build_module(n_inputs, input_size, n_outputs)``.

    The module takes a float tensor of shape (batch, n_inputs, input_size) and returns logits of
    shape (batch,) for two classes (one logit of the second class, binary cross-entropy) or
    (batch, n_classes) for more (softmax cross-entropy). Subclasses keep their parameters as ``__init__`` arguments; the ones read
    here are ``input_size``, ``standardize``, ``learning_rate``, ``weight_decay``, ``batch_size``,
    ``max_epochs``, ``patience``, ``validation_fraction``, ``n_members``, ``n_threads`` and
    ``random_state``. With ``n_members > 1``, that many networks are trained from different seeds
    (each with its own validation split) and their logits averaged.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # -- input layout ----------------------------------------------------------------------
    def _as_inputs(self, X: np.ndarray) -> np.ndarray:
        """Reshape X of shape (n, n_inputs * input_size) to (n, n_inputs, input_size).

        With ``input_size`` a list of per-input sizes (e.g. ``[400, 107]``: I3D logits and radiomics
        features), X of shape (n, sum(sizes)) is split into its inputs and each is padded with zeros
        to the longest: (n, n_inputs, max(sizes)). The padding comes after standardisation, so it
        stays exactly 0 and the encoder weights it meets get no gradient (weight decay takes them to
        0): each input is encoded from its own features only.
        """
        if isinstance(self.input_size, (list, tuple)):
            sizes = [int(s) for s in self.input_size]
            if sum(sizes) != X.shape[1] or min(sizes, default=0) < 1:
                raise ValueError(f"{type(self).__name__}: input_size={sizes} sums to {sum(sizes)}, but X has "
                                 f"{X.shape[1]} features; pass one positive size per input, in column order.")
            out = np.zeros((len(X), len(sizes), max(sizes)), dtype=X.dtype)
            bounds = np.concatenate([[0], np.cumsum(sizes)])
            for i, size in enumerate(sizes):
                out[:, i, :size] = X[:, bounds[i]: bounds[i + 1]]
            return out
        size = self.input_size or X.shape[1]
        if X.shape[1] % size:
            raise ValueError(
                f"{type(self).__name__}: {X.shape[1]} features are not a whole number of inputs of "
                f"input_size={size}; pass features as (n_cases, n_inputs * {size})."
            )
        return X.reshape(len(X), X.shape[1] // size, size)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        X = X.astype(np.float32, copy=False)
        if self.standardize:
            X = (X - self.mean_) / self.scale_
        return self._as_inputs(X)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit on X of shape (n_cases, n_inputs * input_size) and labels y of shape (n_cases,), two or more classes."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} can't train when only one class is present: y is all {self.classes_[0]!r}")
        # two classes: one logit and binary cross-entropy (as the paper); more: one logit per class
        target = encoded.astype(np.float32) if len(self.classes_) == 2 else encoded.astype(np.int64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + 1e-6
        inputs = self._transform(X)
        self.n_inputs_ = inputs.shape[1]
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_members)
        start = time.perf_counter()
        with _torch_threads(self.n_threads):
            if self._stackable():
                self.module_, self.history_ = self._train_stacks(inputs, target, [int(s) for s in seeds])
            else:
                members, self.history_ = [], []
                for seed in seeds:
                    with _seeded(int(seed)):
                        module, history = self._train(inputs, target, int(seed))
                    members.append(module)
                    self.history_.append(history)
                self.module_ = average_members(members)
        self.best_epoch_ = [int(np.argmin(h["val_loss"])) + 1 if h["val_loss"] else len(h["loss"]) for h in self.history_]
        self.n_epochs_ = [len(h["loss"]) for h in self.history_]
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _split(self, n: int, target: np.ndarray, seed: int):
        rows = np.arange(n)
        counts = np.bincount(target.astype(int), minlength=len(self.classes_))
        n_val = int(round(self.validation_fraction * n))
        if not self.validation_fraction or n_val < 2 or counts.min() < 2:
            return rows, None  # too few rows to hold out: train for max_epochs without stopping
        return train_test_split(rows, test_size=n_val, stratify=target, random_state=seed)

    def _stackable(self) -> bool:
        """Whether the members are :class:`~mgmtfeat.models.stacked_snn.StackedSNN` networks (subclasses say)."""
        return False

    def _train_stacks(self, inputs: np.ndarray, target: np.ndarray, seeds: list[int]):
        """Members trained as one stacked network (``stack_members``), or one by one into one stack."""
        import torch

        from mgmtfeat.models import stacked_snn, stacked_training

        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        groups = [seeds] if self.stack_members else [[seed] for seed in seeds]
        stacks, histories = [], []
        for group in groups:
            # a member's initial weights come from a torch generator, its batch order and dropout masks
            # from a numpy one (faster per random bit), both seeded with the member's seed alone
            stack = self._build_stack([torch.Generator().manual_seed(seed) for seed in group],
                                      inputs.shape[1], inputs.shape[2], n_outputs)
            histories += stacked_training.train_stacked(
                stack, [np.random.default_rng(seed) for seed in group], inputs, target,
                [self._split(len(inputs), target, seed) for seed in group],
                learning_rate=self.learning_rate, weight_decay=self.weight_decay, batch_size=self.batch_size,
                max_epochs=self.max_epochs, patience=self.patience)
            stacks.append(stack)
        return stacked_snn.concatenate(stacks), histories

    def _train(self, inputs: np.ndarray, target: np.ndarray, seed: int):
        import torch

        train_rows, val_rows = self._split(len(inputs), target, seed)
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        module = self._build_module(inputs.shape[1], inputs.shape[2], n_outputs)
        optimiser = torch.optim.Adam(module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss() if n_outputs == 1 else torch.nn.CrossEntropyLoss()
        X_all, y_all = torch.from_numpy(inputs), torch.from_numpy(target)
        generator = torch.Generator().manual_seed(seed)
        history = {"loss": [], "val_loss": []}
        best_state, best_loss, waited = None, np.inf, 0
        for _ in range(self.max_epochs):
            module.train()
            order = torch.from_numpy(train_rows)[torch.randperm(len(train_rows), generator=generator)]
            total = 0.0
            for batch in order.split(self.batch_size):
                if len(batch) < 2:
                    continue  # batch norm cannot train on a single row
                optimiser.zero_grad()
                loss = loss_fn(module(X_all[batch]), y_all[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            history["loss"].append(total / len(train_rows))
            if val_rows is None:
                continue
            module.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(module(X_all[val_rows]), y_all[val_rows]))
            history["val_loss"].append(val_loss)
            if val_loss < best_loss - 1e-4:
                best_loss, best_state, waited = val_loss, copy.deepcopy(module.state_dict()), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        return module, history

    # -- prediction ------------------------------------------------------------------------
    def _forward(self, X, method: str = "forward") -> np.ndarray:
        import torch

        check_is_fitted(self, "module_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        # Trained in float32, evaluated in float64: a float32 matrix product rounds differently with
        # the batch size and the CPU's kernels (2.4e-7 seen between machines), float64 keeps a case's
        # prediction the same to about 1e-15 whatever else is in the batch and whichever CPU runs it.
        module = copy.deepcopy(self.module_).double()
        inputs = torch.from_numpy(self._transform(X).astype(np.float64))
        with _torch_threads(self.n_threads), torch.no_grad():
            return getattr(module, method)(inputs).numpy()

    def decision_function(self, X) -> np.ndarray:
        """Logits: shape (n_cases,) of the second class for two classes, (n_cases, n_classes) for more."""
        return self._forward(X).astype(np.float64)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_cases, n_classes), columns in the order of ``classes_``."""
        logits = self.decision_function(X)
        if logits.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-logits))
            return np.column_stack([1.0 - p, p])
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # softmax without overflow
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels, shape (n_cases,)."""
        logits = self.decision_function(X)
        index = (logits > 0).astype(int) if logits.ndim == 1 else logits.argmax(axis=1)
        return self.classes_[index]


def average_members(members: list):
    """One module whose outputs (logits, attention) are the mean of the members'.

    Parameters
    ----------
    members : list of torch.nn.Module
        Trained networks, each mapping (batch, n_inputs, input_size) to logits of shape (batch,)
        or (batch, n_outputs).

    Returns
    -------
    torch.nn.Module
        The single member itself, or an :class:`~mgmtfeat.models.networks.AverageNetwork` of them
        in eval mode, with the members' output shapes.
    """
    from mgmtfeat.models.networks import AverageNetwork

    return members[0] if len(members) == 1 else AverageNetwork(members).eval()


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch inside the block without changing the caller's global random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
