"""A progress bar on a terminal (stderr), silent otherwise: logs and pipes stay clean."""

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
