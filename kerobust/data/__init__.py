"""Datasets: offline `digits`, tfds-backed image datasets, and user `.npz` arrays; pixels always in [0, 1]."""

from kerobust.data.batches import TrainingBatches
from kerobust.data.dataset import Dataset
from kerobust.data.registry import DATASETS, load_dataset
from kerobust.data.threat_model import ThreatModel

__all__ = ["DATASETS", "Dataset", "ThreatModel", "TrainingBatches", "load_dataset"]
