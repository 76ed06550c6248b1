"""troupe: many learners at once on Ray — ensembles, federated clients, sweeps."""

__version__ = "0.1.0"


def run(experiment: str, overrides=(), **kwargs):
    """Run an experiment from Python; see :func:`troupe.experiments.runner.run`."""
    from troupe.experiments.runner import run as _run

    return _run(experiment, overrides, **kwargs)


__all__ = ["__version__", "run"]
