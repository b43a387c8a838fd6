"""Progress bars on a terminal (stderr), silent otherwise: logs and pipes stay clean."""

from __future__ import annotations

import sys


class Progress:
    """Stages of a job as a tqdm bar, only when stderr is a terminal."""

    def __init__(self, total: int, desc: str = "trailmatch") -> None:
        self._bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)

    def step(self, label: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress(iterable, *, desc: str, unit: str, total: int | None = None):
    """``iterable`` with a progress bar on a terminal only (never in logs or pipes)."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, unit=f" {unit}",
                file=sys.stderr, disable=not sys.stderr.isatty())
