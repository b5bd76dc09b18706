"""Sample weights of an index file (the pipeline's ``weights`` stage): schemes (a registry,
``avdata.weights.schemes``), the weights file (``files``) and label balance under weights
(``balance``). Used by index's report, balance, the loaders' samplers and shards, and the CLI.

Python API (mirrors ``avdata weights``)::

    write_weights(WeightsOptions(index_path, scheme="vipant")) -> WeightsResult
"""

from avdata.weights.balance import LabelBalance, label_balance
from avdata.weights.files import (
    WeightsOptions,
    WeightsResult,
    read_weights,
    weights_path_for,
    write_weight_values,
    write_weights,
)
from avdata.weights.schemes import (
                                    BALANCE_CAP,
                                    BALANCE_FLOOR,
                                    BALANCE_ROUNDS,
                                    DEFAULT_SCHEME,
                                    SCHEMES,
                                    get_scheme,
                                    sample_weights,
                                    scheme_names,
                                    weight_scheme,
)

__all__ = ["LabelBalance", "label_balance", "WeightsOptions", "WeightsResult", "read_weights", "weights_path_for",
           "write_weights", "write_weight_values", "BALANCE_CAP", "BALANCE_FLOOR", "BALANCE_ROUNDS",
           "DEFAULT_SCHEME", "SCHEMES", "get_scheme", "sample_weights", "scheme_names", "weight_scheme"]
