"""Progress of a job on stderr: bars on a terminal, one line per stage in logs and pipes.

On a terminal every stage (and every force or batch inside one) gets a tqdm bar with its
counts and rate; off a terminal bars would only litter the log, so each stage writes one line
when it ends, with its time and count. ``Stages`` also keeps the seconds per stage for the
run record and the summary.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

T = TypeVar("T")


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


class Stage:
    """The stage being run: count what it has done (``update``) or wrap an iterable
    (``track``); ``part`` opens a bar for one force or batch inside it."""

    def __init__(self, stages: Stages, name: str, total: int | None, unit: str) -> None:
        self.stages, self.name, self.unit = stages, name, unit
        self.done = 0
        self._bar = stages._bar(name, total, unit, leave=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def track(self, items: Iterable[T], total: int | None = None) -> Iterator[T]:
        if self._bar is not None and self._bar.total is None:
            if total is None and hasattr(items, "__len__"):
                total = len(items)  # type: ignore[arg-type]
            self._bar.total = total
            self._bar.refresh()
        for item in items:
            yield item
            self.update()

    @contextmanager
    def part(self, label: str, total: int | None, unit: str) -> Iterator[Part]:
        bar = self.stages._bar(f"  {self.name} {label}", total, unit, leave=False)
        try:
            yield Part(bar)
        finally:
            if bar is not None:
                bar.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Part:
    """A bar for one force or batch inside a stage (nothing off a terminal)."""

    def __init__(self, bar) -> None:
        self._bar = bar

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)


class Timer:
    """A job's stages timed silently (no bar, no line): ``with timer.stage("match"):``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


class Stages:
    """A job's stages, timed. ``with stages.stage("match", total=5, unit="force") as s:``.

    ``tty``: draw bars (default: when ``stream`` is a terminal); otherwise each stage ends
    with one line ``<job>: <stage> <seconds> s (<count> <unit>)`` on ``stream``."""

    def __init__(self, job: str, *, stream: IO[str] | None = None, tty: bool | None = None):
        self.job = job
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.seconds: dict[str, float] = defaultdict(float)

    def _bar(self, desc: str, total: int | None, unit: str, *, leave: bool):
        if not self.tty:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=f" {unit}", file=self.stream, leave=leave,
                    dynamic_ncols=True)

    @contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "item") -> Iterator[Stage]:
        t0 = time.perf_counter()
        stage = Stage(self, name, total, unit)
        try:
            yield stage
        finally:
            took = time.perf_counter() - t0
            self.seconds[name] += took
            stage.close()
            if not self.tty:
                count = f" ({stage.done} {unit})" if stage.done else ""
                print(f"{self.job}: {name} {took:.2f} s{count}", file=self.stream, flush=True)
