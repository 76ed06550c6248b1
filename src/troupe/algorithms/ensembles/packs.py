"""Member packs: many seeded copies of one architecture trained side by side.

A pack stacks the parameters of P members along a leading dim and trains them
with one vmapped forward (``torch.func``) and one backward per step, so one worker runs a whole
ensemble in the time a plain loop needs for a few members. Member ``i`` is
initialised and fed batches exactly as a plain single run with ``seeds[i]``
would be (:func:`train_single` is that plain run), so a pack is a faster way to
get the same ensemble, not a different algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

# Offsets the batch-order stream from the init stream of the same seed, so that
# batch order and initial weights are not drawn from one sequence.
BATCH_SEED_OFFSET = 1_000_003


class PackState(NamedTuple):
    """State of a pack of P members.

    Attributes:
        params: parameter name -> tensor with leading member dim P.
        buffers: buffer name -> tensor with leading member dim P.
        momentum: parameter name -> SGD momentum buffer (zeros before the first step).
        seeds: the members' seeds, in member order.
        step: number of SGD steps taken so far; the next batches continue each
            member's stream from here.
    """

    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    momentum: dict[str, Tensor]
    seeds: tuple[int, ...]
    step: int


def init_pack(
    model_fn: Callable[[], nn.Module], seeds: Sequence[int], *, device: torch.device | str
) -> PackState:
    """Initialise one member per seed, as ``torch.manual_seed(seed); model_fn()`` would.

    The global CPU RNG is restored afterwards, so calling this has no effect on
    randomness elsewhere.

    Args:
        model_fn: builds one (CPU) module; called once per seed.
        seeds: one seed per member.
        device: where the stacked state lives.

    Returns:
        A :class:`PackState` at step 0.
    """
    if len(seeds) == 0:
        raise ValueError("a pack needs at least one seed")
    members = []
    with torch.random.fork_rng(devices=[]):
        for seed in seeds:
            torch.manual_seed(seed)
            members.append(model_fn().to(device))
    params, buffers = stack_module_state(members)
    params = {k: v.detach() for k, v in params.items()}
    buffers = {k: v.detach() for k, v in buffers.items()}
    momentum = {k: torch.zeros_like(v) for k, v in params.items()}
    return PackState(params, buffers, momentum, tuple(int(s) for s in seeds), 0)


class _BatchStreams:
    """Each member's endless minibatch stream, read block by block.

    Epoch ``e`` of a member is a fresh ``randperm(n)`` from its own CPU
    generator (CPU so the order is the same on every device), cut into
    ``n // batch_size`` batches; the last partial batch of each epoch is dropped.
    """

    def __init__(self, seeds: Sequence[int], *, n: int, batch_size: int) -> None:
        if not 0 < batch_size <= n:
            raise ValueError(f"need 0 < batch_size <= n, got batch_size={batch_size}, n={n}")
        self._gens = [torch.Generator().manual_seed(int(s) + BATCH_SEED_OFFSET) for s in seeds]
        self._n = n
        self._batch = batch_size
        self._per_epoch = n // batch_size
        self._epoch: Tensor | None = None  # (per_epoch, P, batch) of the current epoch
        self._row = self._per_epoch

    def _next_epoch(self) -> None:
        used = self._per_epoch * self._batch
        perms = [torch.randperm(self._n, generator=g, device="cpu")[:used] for g in self._gens]
        self._epoch = torch.stack(perms).view(len(perms), self._per_epoch, self._batch)
        self._epoch = self._epoch.transpose(0, 1)
        self._row = 0

    def skip(self, steps: int) -> None:
        """Advance every stream by ``steps`` batches."""
        while steps > 0:
            if self._row == self._per_epoch:
                self._next_epoch()
            k = min(steps, self._per_epoch - self._row)
            self._row += k
            steps -= k

    def take(self, steps: int) -> Tensor:
        """The next ``steps`` batches of every member, shape ``(steps, P, batch)``."""
        out = torch.empty(steps, len(self._gens), self._batch, dtype=torch.int64, device="cpu")
        t = 0
        while t < steps:
            if self._row == self._per_epoch:
                self._next_epoch()
            k = min(steps - t, self._per_epoch - self._row)
            out[t : t + k] = self._epoch[self._row : self._row + k]
            self._row += k
            t += k
        return out

    def blocks(self, steps: int, block: int) -> Iterator[Tensor]:
        """The next ``steps`` batches in blocks of at most ``block`` steps."""
        for start in range(0, steps, block):
            yield self.take(min(block, steps - start))


def member_batches(
    seeds: Sequence[int],
    *,
    n: int,
    batch_size: int,
    steps: int,
    device: torch.device | str,
    start: int = 0,
) -> Tensor:
    """Each member's own minibatch indices into a dataset of ``n`` examples.

    Member ``i`` draws epoch-wise permutations of ``range(n)`` from
    ``torch.Generator().manual_seed(seeds[i] + 1_000_003)`` and cuts each into
    ``n // batch_size`` batches, dropping the last partial batch of every epoch.
    A member's stream depends only on its own seed, never on the rest of the pack.

    Args:
        start: number of batches of each stream to skip (to resume after ``start`` steps).

    Returns:
        int64 tensor of shape ``(steps, P, batch_size)`` on ``device``.
    """
    streams = _BatchStreams(seeds, n=n, batch_size=batch_size)
    streams.skip(start)
    return streams.take(steps).to(device)


def _forward(params: dict[str, Tensor], buffers: dict[str, Tensor], xb: Tensor, *, model: nn.Module) -> Tensor:
    return functional_call(model, (params, buffers), (xb,))


def _pack_step(
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    xb: Tensor,
    yb: Tensor,
    *,
    forward: Callable,
) -> tuple[dict[str, Tensor], Tensor]:
    """Every member's gradient and loss on its own batch ``xb[i], yb[i]``.

    The members' losses are independent, so the gradient of their sum with respect to
    the stacked parameters is, slice by slice, each member's own gradient: one vmapped
    forward and one plain backward (cheaper than ``vmap(grad(...))``, which also imports
    ``torch._dynamo`` on first use, about a second).
    """
    leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        logits = forward(leaves, buffers, xb)  # (P, batch, classes)
        losses = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(yb.shape).mean(1)
        grads = torch.autograd.grad(losses.sum(), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True)), losses.detach()


def train_pack(
    state: PackState,
    x: Tensor,
    y: Tensor,
    *,
    model: nn.Module,
    steps: int,
    batch_size: int,
    lr: float | Sequence[float] | Tensor,
    momentum: float | Sequence[float] | Tensor = 0.0,
    weight_decay: float | Sequence[float] | Tensor = 0.0,
    chunk: int | None = None,
) -> tuple[PackState, Tensor]:
    """Minibatch SGD with cross-entropy on every member at once.

    The update is ``torch.optim.SGD``'s: ``d = g + weight_decay * p``;
    ``buf = momentum * buf + d`` (``buf = d`` on the first step); ``p -= lr * buf``.
    Member ``i`` takes the batches of :func:`member_batches` for its seed,
    continuing from ``state.step``, so training in several calls equals one call.

    Args:
        state: the pack; it is not modified.
        x: inputs ``(n, ...)``; y: int64 labels ``(n,)``. Moved to the pack's device.
        lr, momentum, weight_decay: one value for every member, or one per member
            (a sequence or tensor of shape ``(P,)``), so a pack can hold members of
            different configurations (trial packing in sweeps).
        model: a template of the architecture (any instance, on any device
            including ``meta``); only its structure is used. Buffers are passed
            read-only, so layers that update buffers in training (BatchNorm
            running statistics) are not supported.
        chunk: how many steps of batch indices to draw and move to the device at
            once; ``None`` draws all ``steps`` at once (``8 * steps * P * batch_size`` bytes).

    Returns:
        The new state and the per-step, per-member training loss ``(steps, P)``.
    """
    device = next(iter(state.params.values())).device
    x, y = x.to(device), y.to(device)
    params = {k: v.clone() for k, v in state.params.items()}
    bufs = {k: v.clone() for k, v in state.momentum.items()}
    members = len(state.seeds)
    losses = torch.empty(steps, members, device=device)
    forward = vmap(partial(_forward, model=model))
    lr, momentum, weight_decay = (_per_member(v, members, device) for v in (lr, momentum, weight_decay))

    streams = _BatchStreams(state.seeds, n=len(x), batch_size=batch_size)
    streams.skip(state.step)
    t = 0
    with torch.no_grad():
        for block in streams.blocks(steps, chunk or max(steps, 1)):
            block = block.to(device, non_blocking=True)
            for idx in block:
                grads, losses[t] = _pack_step(params, state.buffers, x[idx], y[idx], forward=forward)
                for name, p in params.items():
                    d = grads[name]
                    if isinstance(weight_decay, Tensor):
                        d = d.add(_along_members(weight_decay, p) * p)
                    elif weight_decay:
                        d = d.add(p, alpha=weight_decay)
                    if isinstance(momentum, Tensor):
                        d = bufs[name].mul_(_along_members(momentum, p)).add_(d)
                    elif momentum:
                        d = bufs[name].mul_(momentum).add_(d)
                    if isinstance(lr, Tensor):
                        p.sub_(_along_members(lr, p) * d)
                    else:
                        p.add_(d, alpha=-lr)
                t += 1
    new_state = PackState(params, state.buffers, bufs, state.seeds, state.step + steps)
    return new_state, losses


def _per_member(value, members: int, device) -> float | Tensor:
    """A scalar stays a Python float; per-member values become a ``(P,)`` tensor."""
    if isinstance(value, (int, float)):
        return float(value)
    tensor = torch.as_tensor(value, dtype=torch.float32, device=device).reshape(-1)
    if tensor.numel() != members:
        raise ValueError(f"expected one value per member ({members}), got {tensor.numel()}")
    return tensor


def _along_members(values: Tensor, p: Tensor) -> Tensor:
    """``values`` of shape ``(P,)`` shaped to broadcast against a stacked parameter ``(P, ...)``."""
    return values.to(p.dtype).view(-1, *([1] * (p.dim() - 1)))


def train_single(
    model_fn: Callable[[], nn.Module],
    seed: int,
    x: Tensor,
    y: Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    device: torch.device | str,
) -> dict[str, Tensor]:
    """The plain sequential reference: one ``nn.Module`` and ``torch.optim.SGD``.

    Same init (``torch.manual_seed(seed); model_fn()``) and same batches
    (:func:`member_batches` of ``[seed]``) as member ``seed`` of a pack. The
    global CPU RNG is restored afterwards.

    Returns:
        The trained parameters, name -> tensor.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_fn().to(device)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    batches = member_batches([seed], n=len(x), batch_size=batch_size, steps=steps, device=device)
    for idx in batches[:, 0]:
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _pack_apply(
    module: nn.Module,
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    x: Tensor,
    batch: int,
) -> Tensor:
    device = next(iter(params.values())).device
    run = vmap(lambda p, b, xb: functional_call(module, (p, b), (xb,)), in_dims=(0, 0, None))
    with torch.no_grad():
        parts = [run(params, buffers, xb.to(device)) for xb in x.split(batch)]
    return torch.cat(parts, dim=1)


def pack_logits(state: PackState, x: Tensor, *, model: nn.Module, batch: int = 4096) -> Tensor:
    """Every member's logits on ``x``, shape ``(P, N, classes)``, in batches of ``batch`` inputs."""
    return _pack_apply(model, state.params, state.buffers, x, batch)


def _prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def pack_features(state: PackState, x: Tensor, *, model: nn.Module, batch: int = 4096) -> Tensor:
    """Every member's penultimate features (``model.body``) on ``x``, shape ``(P, N, F)``."""
    body_params = _prefixed(state.params, "body.")
    body_buffers = _prefixed(state.buffers, "body.")
    return _pack_apply(model.body, body_params, body_buffers, x, batch)


def unstack(state: PackState) -> list[dict[str, Tensor]]:
    """Member ``i``'s parameters as a plain name -> tensor dict (views into the pack)."""
    return [{k: v[i] for k, v in state.params.items()} for i in range(len(state.seeds))]
