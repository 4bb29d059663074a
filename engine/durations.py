"""How long something takes or is away, in the words every page, message and the CLI use."""

from __future__ import annotations


def span(seconds: float) -> str:
    """A rough human duration: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"
