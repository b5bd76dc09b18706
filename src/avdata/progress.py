"""Progress bars for long stages (tqdm on stderr; quiet when stderr is not a terminal unless asked)."""

from __future__ import annotations

import sys
import warnings
from typing import Any

from tqdm import TqdmExperimentalWarning

with warnings.catch_warnings():             # what tqdm.auto does, without its asyncio (10 ms to import)
    warnings.simplefilter("ignore", category=TqdmExperimentalWarning)
    from tqdm.autonotebook import tqdm


def progress(total: int | None, desc: str, unit: str = "it", *, enabled: bool | None = None, **kw: Any) -> tqdm:
    """A progress bar showing rate (``unit``/s) and ETA. ``enabled=None`` means: only on a terminal."""
    disable = (not sys.stderr.isatty()) if enabled is None else (not enabled)
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True,
                smoothing=0.1, file=sys.stderr, **kw)
