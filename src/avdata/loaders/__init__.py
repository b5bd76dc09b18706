"""Serve avdata's datasets to PyTorch: lazy index datasets, samplers, mixtures and WebDataset shards.

torch is optional (``pip install 'avdata[torch]'``): datasets return numpy arrays unless asked for
tensors, and ``DataLoader`` accepts them as they are; ``collate`` stacks a batch into tensors.
"""

from avdata.loaders.dataset import AVIndexDataset, DatasetOptions
from avdata.loaders.labels import LabelMap, collate, index_labels, ontology_labels
from avdata.loaders.lazy_index import LazyIndex
from avdata.loaders.transforms import AudioInput

__all__ = ["AVIndexDataset", "AudioInput", "DatasetOptions", "LabelMap", "LazyIndex", "collate",
           "index_labels", "ontology_labels"]
