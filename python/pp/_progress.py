"""A progress bar on stderr for wait(progress=True) and Executor.map(progress=True):
tqdm's when it is installed, else one line redrawn in place."""

from __future__ import annotations

import sys
import time
from typing import Any

# Least time between two redraws of the plain bar.
REDRAW_SECONDS = 0.1


class Progress:
    """Counts jobs done out of total (None: unknown). when: False draws
    nothing; True draws when stderr is a terminal; "always" draws anyway."""

    def __init__(self, total: int | None, label: str, when: bool | str) -> None:
        self._bar: Any = None
        self._plain = False
        self._done = 0
        self._total = total
        self._label = label
        self._started = self._drawn = time.monotonic()
        if not when or (when != "always" and not sys.stderr.isatty()):
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self._plain = True
        else:
            self._bar = tqdm(total=total, desc=label, unit="job", file=sys.stderr)

    def advance(self, n: int) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._plain and time.monotonic() - self._drawn >= REDRAW_SECONDS:
            self._draw()

    def set_done(self, done: int) -> None:
        if done > self._done:
            self.advance(done - self._done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._plain:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self) -> None:
        self._drawn = now = time.monotonic()
        rate = self._done / max(now - self._started, 1e-9)
        if self._total:
            width = 30
            filled = width * min(self._done, self._total) // self._total
            left = (self._total - self._done) / rate if rate > 0 else 0.0
            text = "%s [%s%s] %d/%d %.0f jobs/s ETA %.0fs" % (
                self._label, "#" * filled, "." * (width - filled), self._done, self._total,
                rate, left)
        else:
            text = "%s %d jobs %.0f jobs/s" % (self._label, self._done, rate)
        sys.stderr.write("\r" + text)
        sys.stderr.flush()
