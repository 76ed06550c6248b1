"""The ensemble worker: trains member packs on its device and returns their outputs."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from troupe.actors.device import resolve_device, shared_tensors
from troupe.algorithms.ensembles import init_pack, pack_features, pack_logits, train_pack
from troupe.algorithms.models import build_model


class EnsembleWorker:
    """Holds one copy of the data on its device and trains packs of seeded members.

    Args:
        arrays: ``x_train``, ``y_train``, ``x_eval`` (and optionally ``x_probe``) as numpy
            arrays; read zero-copy from Ray's object store.
        model: keyword arguments of :func:`troupe.algorithms.models.build_model`.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(self, arrays: dict[str, np.ndarray], model: dict, device: str = "auto"):
        self.device = resolve_device(device)
        self.tensors = shared_tensors(arrays, self.device)
        self.model_fn = partial(build_model, **model)
        self.template = self.model_fn().to(self.device)

    def train(self, seeds: list[int], hp: dict, outputs: tuple[str, ...] = ("logits",),
              width_mult: int | None = None) -> dict:
        """Train one pack (a member per seed); return per-step losses and the requested outputs.

        ``outputs``: ``logits`` on ``x_eval`` and/or ``features`` (penultimate layer) on ``x_probe``.
        ``width_mult`` trains a wider variant of the worker's model instead.
        """
        model_fn, template = self.model_fn, self.template
        if width_mult is not None:
            model_fn = partial(self.model_fn, width_mult=width_mult)
            template = model_fn().to(self.device)
        state = init_pack(model_fn, seeds, device=self.device)
        state, losses = train_pack(state, self.tensors["x_train"], self.tensors["y_train"], model=template,
                                   steps=hp["steps"], batch_size=hp["batch_size"], lr=hp["lr"],
                                   momentum=hp.get("momentum", 0.0), weight_decay=hp.get("weight_decay", 0.0))
        out = {"seeds": list(seeds), "losses": losses.detach().cpu().numpy()}
        with torch.no_grad():
            if "logits" in outputs:
                out["logits"] = pack_logits(state, self.tensors["x_eval"], model=template).cpu().numpy()
            if "features" in outputs:
                out["features"] = pack_features(state, self.tensors["x_probe"], model=template).cpu().numpy()
        return out
