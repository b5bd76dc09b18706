"""Is a download media? Every backend that downloads probes the file before it is recorded ``ok``.

- A body that is text (an HTML error page, a login wall, a bot check served with 200) is
  ``not_media``, permanent — unless its words say the source is refusing us for now ("Sign in to
  confirm you're not a bot", "Too Many Requests"): then it gets that message's class
  (``rate_limited``, transient), so the circuit breaker sees it.
- A binary body that does not open as media, or holds no packet, is ``bad_media``, transient (a
  damaged transfer or a cache glitch; another try may bring a good copy).
"""

from __future__ import annotations

from pathlib import Path

from avdata.errors import AvdataError, FetchError
from avdata.fetch.classify import BAN_CLASSES, classify_message, one_line

SNIFF_BYTES = 65536


def looks_like_text(head: bytes) -> bool:
    """True when the first bytes are (almost all) printable UTF-8 text or start like markup."""
    if not head:
        return True
    stripped = head.lstrip()
    if stripped[:1] == b"<" or stripped[:1] in (b"{", b"["):
        return True
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:     # not just a character cut at the end of the sniff
            return False
        text = head[: e.start].decode("utf-8")
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
    return printable >= 0.95 * max(1, len(text))


def verify_media(path: Path, where: str) -> None:
    """Raise FetchError unless ``path`` is media with at least one packet (see the module docstring)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if looks_like_text(head):
        text = head.decode("utf-8", errors="replace")
        err = classify_message(text)
        if err.error_class in BAN_CLASSES:
            raise FetchError(err.error_class, one_line(f"{where}: the server sent a page instead of media: "
                                                       f"{text}", 300), transient=True)
        raise FetchError("not_media", one_line(f"{where}: not media (the body is text: {text!r})", 300))
    from avdata.media.verify import check_media

    try:
        check = check_media(path)
    except AvdataError as e:
        raise FetchError("bad_media", one_line(f"{where}: not readable as media: {e}"), transient=True) from e
    if not check.first_packet:
        raise FetchError("bad_media", f"{where}: media holds no packet", transient=True)
