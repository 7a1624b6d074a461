"""Progress bars: drawn only on a terminal, one line per blob, redrawn in place."""

from __future__ import annotations

import io

from berth.cli._progress import Bars, bars_for
from berth.spec.descriptor import Descriptor


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_or_not_a_terminal_draws_nothing() -> None:
    assert bars_for(False, io.StringIO()) is None
    assert bars_for(True, _Tty()) is None
    assert isinstance(bars_for(False, _Tty()), Bars)


def test_bars_show_progress_and_final_state() -> None:
    out = _Tty()
    bars = bars_for(False, out)
    assert bars is not None
    a = Descriptor.of("application/octet-stream", b"x" * 2048)
    b = Descriptor.of("application/octet-stream", b"y")
    bars.blob_started(a)
    bars.blob_advanced(a, 1024)
    bars.blob_done(b, skipped=True)
    bars.blob_advanced(a, 1024)
    bars.blob_done(a, skipped=False)
    text = out.getvalue()
    assert f"Copying blob {a.digest.encoded[:12]} [" in text
    assert f"Copying blob {b.digest.encoded[:12]} skipped: already exists" in text
    assert text.splitlines()[-2].endswith(f"Copying blob {a.digest.encoded[:12]} done")
    assert "\x1b[2F" in text  # two bars: the cursor goes back two lines to redraw
