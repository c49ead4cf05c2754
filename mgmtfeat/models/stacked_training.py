"""Training of :class:`~mgmtfeat.models.stacked_snn.StackedSNN`: all members at once, each as if alone.

Per epoch, each member draws from its own numpy generator, in a fixed order, its batch order and
the dropout masks of the whole epoch, and its (permuted, input-dropped) rows are written once into a
buffer whose mini-batches are views. A member trained with others or by itself therefore sees the
same batches and masks, and gets the same updates up to float rounding (its gradient is its own
since the loss is the sum of the members' losses, and Adam works element by element). A member
that stops early leaves the stack (its parameters, Adam moments and buffers are cut out), so the
others train on without computing it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mgmtfeat.models.stacked_snn import StackedSNN

__all__ = ["train_stacked", "keep_mask", "EpochBuffers", "StackedAdam"]

_MIN_IMPROVEMENT = 1e-4  # a validation loss must fall by more than this to count as better


def keep_mask(rng: np.random.Generator, shape: tuple, p: float) -> np.ndarray:
    """Boolean keep decisions, each True with probability 1 - p, from ``rng``'s raw bits.

    A decision takes the fewest random bits that represent p exactly: one bit for p = 0.5 (the
    SNN's input dropout), else an unsigned integer of 8, 16 or 32 bits compared with p's threshold
    (32 rounding p to 2**-32). Drawing a float per decision cost more than the rest of an epoch's
    data preparation.
    """
    n = int(np.prod(shape))
    if p == 0.5:
        raw = rng.bit_generator.random_raw(-(-n // 64))
        return np.unpackbits(raw.view(np.uint8), count=n).view(bool).reshape(shape)
    for bits, dtype in ((8, np.uint8), (16, np.uint16), (32, np.uint32)):
        threshold = p * 2.0**bits
        if threshold == round(threshold) or bits == 32:
            break
    raw = rng.bit_generator.random_raw(-(-n * bits // 64)).view(dtype)[:n]
    return (raw >= round(threshold)).reshape(shape)


class EpochBuffers:
    """Each member's rows, targets and masks for one epoch, drawn from its own generator.

    The inputs are held input-major, (n_inputs, n_cases, size), so that a member's epoch of rows is
    one gather and a mini-batch of all members a view of the buffer (K, n_inputs, n_train, size).

    Parameters
    ----------
    module : StackedSNN
        The stack to train; its dropout rates and hidden width size the masks.
    inputs : np.ndarray of float32, shape (n_cases, n_inputs, input_size)
    target : np.ndarray, shape (n_cases,)
    n_train : int
        Training rows per member (the same for every member).
    """

    def __init__(self, module: StackedSNN, inputs: np.ndarray, target: np.ndarray, n_train: int):
        self.p_input, self.p_hidden = module.input_dropout, module.dropout
        # inverted dropout's 1 / (1 - p) once here, so that an epoch's dropout is one pass of zeros
        scale = np.float32(1 / (1 - self.p_input)) if self.p_input > 0 else np.float32(1)
        self.inputs = np.ascontiguousarray(inputs.transpose(1, 0, 2)) * scale
        self.target, self.n_inputs = target, inputs.shape[1]
        self.p_modality = module.modality_dropout if self.n_inputs > 1 else 0.0
        self.hidden_size = module.hid_w.shape[2]
        K = module.n_members
        self.x = np.empty((K, self.n_inputs, n_train, inputs.shape[2]), np.float32)
        self.y = np.empty((K, n_train), target.dtype)
        self.hidden = np.ones((K, n_train, self.hidden_size), np.float32) if self.p_hidden > 0 else None
        self.keep = np.ones((K, self.n_inputs, n_train), bool) if self.p_modality > 0 else None

    def draw(self, slot: int, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Fill buffer ``slot`` with one member's epoch: batch order, then each dropout's masks."""
        n = len(rows)
        order = rows[rng.permutation(n)]
        x = self.x[slot]
        if self.p_input > 0:  # the gather's result is multiplied straight into the buffer: one write
            np.multiply(self.inputs[:, order], keep_mask(rng, x.shape, self.p_input), out=x)
        else:
            np.take(self.inputs, order, axis=1, out=x)
        self.y[slot] = self.target[order]
        if self.hidden is not None:
            self.hidden[slot] = keep_mask(rng, (n, self.hidden_size), self.p_hidden) / np.float32(1 - self.p_hidden)
        if self.keep is not None:
            keep = rng.random((n, self.n_inputs)) >= self.p_modality
            keep[np.arange(n), rng.integers(self.n_inputs, size=n)] = True  # never drop every input
            self.keep[slot] = keep.T

    def batches(self, n_members: int, batch_size: int):
        """Mini-batches of the first ``n_members`` slots: (x, y, masks), all views of the buffers."""
        x, y = torch.from_numpy(self.x[:n_members]), torch.from_numpy(self.y[:n_members])
        hidden = None if self.hidden is None else torch.from_numpy(self.hidden[:n_members])
        keep = None if self.keep is None else torch.from_numpy(self.keep[:n_members])
        for start in range(0, x.shape[2], batch_size):
            end = min(start + batch_size, x.shape[2])
            if end - start < 2:
                continue  # as the one-network loop, which cannot batch-normalise a single row
            masks = {"hidden": None if hidden is None else hidden[:, start:end],
                     "keep": None if keep is None else keep[:, :, start:end]}
            yield x[:, :, start:end], y[:, start:end], masks


def _row_losses(logits: torch.Tensor, y: torch.Tensor, n_outputs: int) -> torch.Tensor:
    """Per member and row, (K, batch)."""
    if n_outputs == 1:
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)


class StackedAdam:
    """Adam with L2 weight decay: the kernel of ``torch.optim.Adam(fused=True)``, called directly.

    The same update, bit for bit (a test checks it), without torch.optim's per-step bookkeeping,
    which added about 40 % to the update at these sizes, nor its first use's import of
    torch._dynamo (about 1.7 s); the moments are lists, so a stopped member's are easily cut out.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        The stack's parameters, each with a leading member axis; all contiguous (the fused kernel
        reads them, their gradients and moments as flat arrays).
    lr, weight_decay : float
        Learning rate and L2 weight decay.
    betas : tuple of float
        Decay of the first and second moments.
    eps : float
        Added to the root of the second moment.
    """

    def __init__(self, params, lr: float, weight_decay: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = torch.zeros((), dtype=torch.float32)  # one count: every parameter steps together

    def zero_grad(self) -> None:
        """Drop every parameter's gradient."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter from its ``grad``."""
        self.steps += 1
        torch._fused_adam_(self.params, [p.grad for p in self.params], self.exp_avg, self.exp_avg_sq, [],
                           [self.steps] * len(self.params),
                           lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                           eps=self.eps, amsgrad=False, maximize=False)

    def select_(self, params, members: torch.Tensor) -> None:
        """Go on with ``params`` (the module's, cut to ``members``) and the moments of those members."""
        self.params = list(params)
        self.exp_avg = [m[members] for m in self.exp_avg]
        self.exp_avg_sq = [v[members] for v in self.exp_avg_sq]


def train_stacked(module: StackedSNN, rngs, inputs, target, splits, *, learning_rate: float, weight_decay: float,
                  batch_size: int, max_epochs: int, patience: int):
    """Train every member of ``module`` at once, each with its own rows, batches, masks and early stopping.

    Parameters
    ----------
    module : StackedSNN
        K members, initialised.
    rngs : list of numpy.random.Generator
        One per member; its batch order and dropout masks are drawn from it.
    inputs : np.ndarray of float32, shape (n_cases, n_inputs, input_size)
    target : np.ndarray, shape (n_cases,)
        float32 0/1 for one logit, int64 class indices otherwise.
    splits : list of (train_rows, val_rows or None)
        Per member; every member has the same number of training rows.
    learning_rate, weight_decay : float
        Adam settings.
    batch_size, max_epochs, patience : int
        Mini-batch size; epoch limit; epochs without validation improvement before a member stops.

    Returns
    -------
    list of dict
        Per member, per-epoch ``loss`` and ``val_loss``; the module holds each member's best epoch
        (its last one where it never improved on its first validation loss or had no validation).
    """
    n_members, n_outputs = module.n_members, module.n_outputs
    train = [np.asarray(t) for t, _ in splits]
    n_train = len(train[0])
    epochs = EpochBuffers(module, inputs, target, n_train)
    val_x = val_y = None
    if splits[0][1] is not None:  # validation rows of every member, input-major: one forward per epoch for all
        val = np.stack([np.asarray(v) for _, v in splits])
        val_x = torch.from_numpy(np.ascontiguousarray(inputs[val].transpose(0, 2, 1, 3)))
        val_y = torch.from_numpy(target[val])

    optimiser = StackedAdam(module.parameters(), learning_rate, weight_decay)
    history = [{"loss": [], "val_loss": []} for _ in range(n_members)]
    final, best_loss, waited = [None] * n_members, [np.inf] * n_members, [0] * n_members
    alive = list(range(n_members))  # members still training, in stack order

    def snapshot(position):  # a copy of one member's parameters
        return [p.detach()[position].clone() for p in module.parameters()]

    for _ in range(max_epochs):
        if not alive:
            break
        for slot, k in enumerate(alive):
            epochs.draw(slot, train[k], rngs[k])
        total = torch.zeros(len(alive))
        for x, y, masks in epochs.batches(len(alive), batch_size):
            losses = module.train_step(x, y, masks)  # sets the gradients
            optimiser.step()
            total += losses.sum(1)
        for k, loss in zip(alive, total.tolist()):
            history[k]["loss"].append(loss / n_train)
        if val_x is None:
            continue
        with torch.inference_mode():  # nothing of the validation pass is kept: no autograd bookkeeping at all
            val_loss = _row_losses(module.member_logits(val_x), val_y, n_outputs).mean(1).tolist()
        stay = []
        for position, (k, loss) in enumerate(zip(alive, val_loss)):
            history[k]["val_loss"].append(loss)
            if loss < best_loss[k] - _MIN_IMPROVEMENT:
                best_loss[k], waited[k], final[k] = loss, 0, snapshot(position)
            else:
                waited[k] += 1
            if waited[k] < patience:
                stay.append(position)
            elif final[k] is None:
                final[k] = snapshot(position)  # never improved: keep its last weights, as one network alone does
        if len(stay) < len(alive):
            members = torch.tensor(stay, dtype=torch.long)
            optimiser.select_(module.select_(members).parameters(), members)
            val_x, val_y = val_x[stay], val_y[stay]
            alive = [alive[position] for position in stay]
    for position, k in enumerate(alive):  # ran to max_epochs: best weights, or the last without validation
        if final[k] is None:
            final[k] = snapshot(position)
    with torch.no_grad():
        for i, (name, param) in enumerate(list(module.named_parameters())):
            setattr(module, name, torch.nn.Parameter(torch.stack([state[i] for state in final])))
    module.eval()
    return history
