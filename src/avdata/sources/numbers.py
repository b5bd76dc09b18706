"""How a published list writes its numbers, learned while reading so a writer can match it.

Candidates: ``fixed:N`` (``%.Nf``), ``repr`` (Python's shortest round trip: ``10.0``, ``3.25``) and
``short`` (shortest without a trailing ``.0``: ``10``, ``3.25``). ``NumberStyle`` keeps the
candidates that reproduce every number seen; a file whose numbers fit none is ``mixed`` (written
as ``repr``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIXED = "mixed"


class RowError(ValueError):
    """A malformed row: the reason only; the reader adds file and line."""


def nonnegative_number(text: str, what: str) -> float:
    """``text`` as a finite float >= 0, or RowError naming ``what`` and the text (Python's ``1_0``
    digit grouping is not a number in a published list)."""
    try:
        if "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise RowError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise RowError(f"{what} {text!r} is not a finite number >= 0")
    return value
_ORDER = ("short", "repr")


def format_number(value: float, style: str) -> str:
    """``value`` written in ``style``."""
    if style.startswith("fixed:"):
        return f"{value:.{int(style[6:])}f}"
    text = repr(float(value))
    if style == "short" and text.endswith(".0"):
        return text[:-2]
    return text


def _fits(text: str, value: float, style: str) -> bool:
    return format_number(value, style) == text


@dataclass
class NumberStyle:
    """Narrows the candidate styles as numbers are seen."""

    candidates: set[str] | None = None
    seen: int = field(default=0)

    def see(self, text: str, value: float) -> None:
        self.seen += 1
        if self.candidates is None:
            decimals = len(text.split(".", 1)[1]) if "." in text else 0
            self.candidates = {s for s in (f"fixed:{decimals}", *_ORDER) if _fits(text, value, s)}
        elif self.candidates:
            self.candidates = {s for s in self.candidates if _fits(text, value, s)}

    @property
    def style(self) -> str:
        """The style to write back with (fixed beats short beats repr; ``mixed`` if none fits)."""
        if self.candidates is None:
            return "repr"
        if not self.candidates:
            return MIXED
        fixed = sorted(c for c in self.candidates if c.startswith("fixed:"))
        if fixed:
            return fixed[0]
        return next(s for s in _ORDER if s in self.candidates)
