"""The client worker: trains its chunk of a cohort one client after another on one model.

A :class:`ClientWorker` lives in a long-lived pool worker. It holds the training
arrays and the client partition (put in the object store once per job and read
zero-copy) and ONE model instance on its device. Each call trains a fixed chunk of
clients, in client-id order, from the round's global parameters and returns one
partial sum over the chunk (``ClientSums``; a list of per-client sums for the
robust strategies), the per-client metrics and the client state that must outlive
the call (SCAFFOLD's c_i, the previous local model for the ``local`` scorers).
Client state comes in with the call and goes back to the driver, so it survives
whichever worker trains the client next, and worker deaths.

Every random choice of a client (example order, batches) is seeded by
(seed, round, client) only, so a client's result does not depend on the worker.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from troupe.actors.device import resolve_device, shared_tensors
from troupe.algorithms.federated import (
    ClientSums,
    add_sums,
    curriculum_batches,
    example_losses,
    fednova_normalizer,
    local_sgd,
    make_strategy,
    order_examples,
    scaffold_client_control,
)
from troupe.algorithms.federated.params import Params, tree_sub, tree_zeros_like
from troupe.algorithms.models import build_model


class ClientError(RuntimeError):
    """A client's local training raised; the message names the client and the round."""


def _on(params: Params | None, device: torch.device) -> Params | None:
    return None if params is None else {k: v.to(device) for k, v in params.items()}


def _cpu(params: Params | None) -> Params | None:
    return None if params is None else {k: v.cpu() for k, v in params.items()}


@cache
def _strategy(name: str, settings: tuple):
    return make_strategy(name, **dict(settings))


class ClientWorker:
    """Trains chunks of clients of one or more federations.

    Args:
        federations: ``{key: arrays}``, each with ``x``, ``y`` (training examples) and
            the partition as ``index`` (every client's example indices, concatenated
            in client order) and ``offsets`` (client c owns ``index[offsets[c]:offsets[c+1]]``).
        model: keyword arguments of :func:`troupe.algorithms.models.build_model`.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(self, federations: dict[str, dict[str, np.ndarray]], model: dict, device: str = "auto"):
        self.device = resolve_device(device)
        self.federations = federations
        self.model = build_model(**model).to(self.device)
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _arrays(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        if key not in self._tensors:
            tensors = shared_tensors({k: self.federations[key][k] for k in ("x", "y")}, self.device)
            self._tensors[key] = (tensors["x"], tensors["y"])
        return self._tensors[key]

    def examples(self, key: str, client: int) -> np.ndarray:
        """Indices (into the training arrays) of ``client``'s examples."""
        arrays = self.federations[key]
        offsets = arrays["offsets"]
        if not 0 <= client < len(offsets) - 1:
            raise IndexError(f"no client {client} (the federation has {len(offsets) - 1})")
        return arrays["index"][offsets[client]:offsets[client + 1]]

    def train_chunk(self, key: str, clients: list[int], round: int, server: dict, hp: dict,
                    states: dict[int, dict] | None = None) -> dict:
        """Train ``clients`` one after another from ``server["params"]``; return their partial sum.

        Args:
            key: which federation (training arrays + partition).
            clients: client ids, in the order their sums are added (sorted by the caller).
            round: the round number (seeds and messages).
            server: ``params`` (global), ``control`` (SCAFFOLD's c or None), ``expert``
                (the expert scorer's params or None).
            hp: local-training settings (see :func:`troupe.experiments.federated.client_settings`).
            states: client id -> state from earlier rounds (``control``, ``previous``).

        Returns:
            ``sums`` (one ClientSums, or a list in client order for robust strategies),
            ``clients`` (one metrics dict per client) and ``states`` (updated client state).

        Raises:
            ClientError: naming the client and the round whose training raised.
        """
        states = states or {}
        server = {k: _on(v, self.device) if isinstance(v, dict) else v for k, v in server.items()}
        robust = hp["robust"]
        total: ClientSums | list[ClientSums] | None = [] if robust else None
        rows, new_states = [], {}
        for client in clients:
            try:
                part, row, state = self._train_client(key, int(client), round, server, hp,
                                                       _on_state(states.get(client), self.device))
            except Exception as exc:
                raise ClientError(f"client {client}, round {round}: {type(exc).__name__}: {exc}") from exc
            if robust:
                total.append(part)
            else:
                total = add_sums(total, part)
            rows.append(row)
            if state:
                new_states[int(client)] = {k: _cpu(v) for k, v in state.items()}
        return {"sums": _sums_cpu(total), "clients": rows, "states": new_states}

    def _train_client(self, key, client, round, server, hp, state):
        x_all, y_all = self._arrays(key)
        idx = torch.as_tensor(self.examples(key, client), device=self.device)
        x, y = x_all[idx], y_all[idx]
        n = len(y)
        if n == 0:
            raise ValueError("the client holds no examples")
        rng = np.random.default_rng([hp["seed"], round, client])
        order = hp["order"]
        scores = (self._difficulty(x, y, server, state, hp).cpu().numpy()
                  if order in ("curriculum", "anti") else np.zeros(n))
        batches = curriculum_batches(order_examples(scores, order, seed=rng),
                                     pacing="none" if order == "none" else hp["pacing"],
                                     batch_size=hp["batch_size"], local_epochs=hp["local_epochs"],
                                     a=hp["a"], b=hp["b"], seed=rng)
        batches = [torch.as_tensor(b, device=self.device) for b in batches]
        start, control = server["params"], server.get("control")
        client_control = None
        if control is not None:
            client_control = state.get("control") or tree_zeros_like(control)
        local, losses = local_sgd(self.model, start, x, y, batches, lr=hp["lr"], momentum=hp["momentum"],
                                  weight_decay=hp["weight_decay"], proximal_mu=hp["proximal_mu"],
                                  control=control, client_control=client_control)
        steps = len(batches)
        new_state, control_delta = {}, None
        if control is not None:
            # (x - y_i) / (K lr) estimates the mean corrected gradient only for plain SGD; with
            # momentum rho the steps carry the weights of FedNova's a_i, so a_i replaces K.
            new_control = scaffold_client_control(client_control, control, start, local,
                                                  local_steps=fednova_normalizer(steps, hp["momentum"]),
                                                  lr=hp["lr"])
            control_delta = tree_sub(new_control, client_control)
            new_state["control"] = new_control
        if hp["keep_local"]:
            new_state["previous"] = local
        strategy = _strategy(*hp["strategy"])
        part = strategy.contribute(tree_sub(local, start), n, local_steps=steps, control_delta=control_delta)
        row = {"client": client, "round": round, "n_examples": n, "loss": float(losses.mean()), "steps": steps}
        return part, row, new_state

    def _difficulty(self, x, y, server, state, hp) -> torch.Tensor:
        """Per-example difficulty under the chosen scorer (the client's previous model falls back to global)."""
        scorer, kind = hp["scorer"], hp["difficulty"]
        previous = state.get("previous") or server["params"]
        if scorer == "global":
            return example_losses(self.model, server["params"], x, y, kind)
        if scorer == "expert":
            return example_losses(self.model, server["expert"], x, y, kind)
        if scorer == "local":
            return example_losses(self.model, previous, x, y, kind)
        return (example_losses(self.model, previous, x, y, kind)
                + example_losses(self.model, server["params"], x, y, kind))


def _on_state(state: dict | None, device: torch.device) -> dict:
    return {k: _on(v, device) for k, v in (state or {}).items()}


def _sums_cpu(total):
    if isinstance(total, list):
        return [_sums_cpu(t) for t in total]
    return total._replace(delta=_cpu(total.delta), control=_cpu(total.control))
