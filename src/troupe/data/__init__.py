"""Data: bundled, synthetic and user datasets, and federated partitions."""

from troupe.data.datasets import DataError, Dataset, load, read_file

__all__ = ["DataError", "Dataset", "load", "read_file"]
