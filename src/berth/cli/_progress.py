"""Progress bars for pulls and pushes: one line per blob on stderr, redrawn in place on a terminal.

``bars_for(quiet)`` returns a ``Bars`` only when stderr is a terminal and ``-q`` was not given;
otherwise nothing is drawn.
"""

from __future__ import annotations

import sys
import time

from berth.spec.descriptor import Descriptor

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import TextIO

_WIDTH = 30
_REDRAW_EVERY = 0.1


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n:.1f}GiB"


class Bars:
    """Draws one line per blob (``Copying blob 1a2b3c4d5e6f [=====>   ] 3.0MiB / 9.0MiB``)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._order: list[str] = []
        self._state: dict[str, tuple[int, int, str]] = {}
        self._drawn = 0
        self._last = 0.0

    def _line(self, key: str) -> str:
        done, total, status = self._state[key]
        short = key.split(":", 1)[-1][:12]
        if status:
            return f"Copying blob {short} {status}"
        filled = int(_WIDTH * done / total) if total else _WIDTH
        bar = "=" * filled + (">" if filled < _WIDTH else "") + " " * max(0, _WIDTH - filled - 1)
        return f"Copying blob {short} [{bar}] {_human(done)} / {_human(total)}"

    def _redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _REDRAW_EVERY:
            return
        self._last = now
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")  # back to the first bar's line
        for key in self._order:
            self.out.write("\x1b[2K" + self._line(key) + "\n")
        self._drawn = len(self._order)
        self.out.flush()

    def _touch(self, desc: Descriptor, done: int, status: str = "") -> None:
        key = str(desc.digest)
        if key not in self._state:
            self._order.append(key)
        self._state[key] = (done, desc.size, status)

    def blob_started(self, desc: Descriptor) -> None:
        """Add a bar."""
        self._touch(desc, 0)
        self._redraw(force=True)

    def blob_advanced(self, desc: Descriptor, nbytes: int) -> None:
        """Move a bar."""
        done = self._state.get(str(desc.digest), (0, desc.size, ""))[0] + nbytes
        self._touch(desc, done)
        self._redraw()

    def blob_done(self, desc: Descriptor, skipped: bool) -> None:
        """Mark a blob finished or already present."""
        self._touch(desc, desc.size, "skipped: already exists" if skipped else "done")
        self._redraw(force=True)


def bars_for(quiet: bool, out: TextIO | None = None) -> Bars | None:
    """Bars on stderr if it is a terminal and not ``quiet``; else None."""
    stream = out or sys.stderr
    if quiet or not stream.isatty():
        return None
    return Bars(stream)
