"""One client's local training and the losses a data curriculum scores examples by.

Local training is plain minibatch SGD (momentum, weight decay) on the batches a
curriculum produced, plus the client-side terms of the strategies: FedProx's
proximal penalty in the loss ("Federated Optimization in Heterogeneous Networks",
Li et al., MLSys 2020) and SCAFFOLD's gradient correction g + c - c_i ("SCAFFOLD:
Stochastic Controlled Averaging for Federated Learning", Karimireddy et al., ICML
2020). The caller's model instance is reused: its parameters are overwritten with
the starting point, so one module serves every client a worker trains.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from troupe.algorithms.federated.client_terms import fedprox_penalty, scaffold_correct_grad
from troupe.algorithms.federated.params import Params

DIFFICULTIES = ("loss", "error")


def model_params(model: nn.Module) -> Params:
    """A detached copy of the model's parameters, keyed by name."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def load_params(model: nn.Module, params: Params) -> None:
    """Overwrite the model's parameters with ``params`` (in place, no autograd)."""
    with torch.no_grad():
        named = list(model.named_parameters())
        torch._foreach_copy_([p for _, p in named], [params[name] for name, _ in named])


def local_sgd(
    model: nn.Module,
    start: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    batches: Sequence[torch.Tensor],
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    proximal_mu: float = 0.0,
    control: Params | None = None,
    client_control: Params | None = None,
) -> tuple[Params, torch.Tensor]:
    """Train ``model`` from ``start`` on ``batches`` (index tensors into x, y); one SGD step each.

    Args:
        model: the module to train; its parameters are overwritten.
        start: the global parameters the client starts from (and FedProx's anchor).
        lr, momentum, weight_decay: torch.optim.SGD settings (a fresh momentum buffer).
        proximal_mu: FedProx's mu; 0 for none.
        control, client_control: SCAFFOLD's c and c_i; each gradient becomes g + c - c_i.

    Returns:
        The trained parameters (detached copies) and the loss of every step
        (cross-entropy without the proximal term), shape [len(batches)].
    """
    if (control is None) != (client_control is None):
        raise ValueError("SCAFFOLD needs both the server control c and the client's c_i")
    load_params(model, start)
    named = dict(model.named_parameters())
    params = list(named.values())
    buffers: list[torch.Tensor] | None = None
    losses = torch.empty(len(batches))
    for step, idx in enumerate(batches):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        objective = loss + fedprox_penalty(named, start, proximal_mu) if proximal_mu > 0 else loss
        grads = torch.autograd.grad(objective, params)
        if control is not None:
            corrected = scaffold_correct_grad(dict(zip(named, grads, strict=True)), control, client_control)
            grads = [corrected[k] for k in named]
        buffers = sgd_step_(params, list(grads), buffers, lr=lr, momentum=momentum, weight_decay=weight_decay)
        losses[step] = loss.detach()
    return model_params(model), losses


def sgd_step_(params: list[torch.Tensor], grads: list[torch.Tensor], buffers: list[torch.Tensor] | None, *,
              lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> list[torch.Tensor] | None:
    """One in-place SGD step with torch.optim.SGD's semantics (no dampening, no Nesterov).

    d = g + wd * p; buf = momentum * buf + d (buf = d on the first step); p -= lr * buf.
    Written with ``torch._foreach_*`` so a client's many short trainings don't pay for
    building an optimizer each time. Returns the momentum buffers (None without momentum).
    """
    with torch.no_grad():
        if weight_decay:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        if momentum:
            if buffers is None:
                buffers = [g.detach().clone() for g in grads]
            else:
                torch._foreach_mul_(buffers, momentum)
                torch._foreach_add_(buffers, grads)
            grads = buffers
        torch._foreach_add_(params, grads, alpha=-lr)
    return buffers


def example_losses(
    model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, difficulty: str = "loss"
) -> torch.Tensor:
    """Per-example difficulty under ``params``: cross-entropy, or 0/1 misclassification.

    The difficulty scores of "When Do Curricula Work in Federated Learning?"
    (Vahidian et al., ICCV 2023): ``loss`` (their default) or ``error``.
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; known: {list(DIFFICULTIES)}")
    with torch.no_grad():
        logits = functional_call(model, params, (x,))
        if difficulty == "error":
            return (logits.argmax(1) != y).float()
        return F.cross_entropy(logits, y, reduction="none")


def evaluate(
    model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``params`` on x, y."""
    correct, total_loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            logits = functional_call(model, params, (x[i : i + batch_size],))
            target = y[i : i + batch_size]
            correct += int((logits.argmax(1) == target).sum())
            total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
    n = max(1, len(y))
    return correct / n, total_loss / n
