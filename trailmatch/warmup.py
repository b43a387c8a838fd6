"""Compile the numba kernels once, at install, so that the first real command is fast.

Every kernel is ``@njit(cache=True)``: compiled on its first call with a given set of argument
types, then loaded from ``__pycache__`` (``*.nbi``/``*.nbc``) by every later process. Compiling
is the slow part of a first run (the parallel kernels take 1-2 s each; the demo's first nightly
spent ~45 CPU-seconds compiling ~30 of them). ``make install`` runs this module, which calls
the paths a first user meets on small data:

- the demo's own flow: a synthetic world's position export and subjects file ingested into a
  trail store, the nightly job on its crime batches (store reads, day indexes, match, coverage,
  evidence and reports);
- ``match()`` and ``eliminate()`` on DataFrames, with the subject column and the rows as users
  have them (strings in export order, rows in time order, a categorical, pyarrow strings with
  32-bit offsets), precision on and off; a large string column's encoding in pieces.

    python -m trailmatch.warmup          # prints what it did and how long it took
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path


def _frames_in_every_form():
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from trailmatch import synthetic

    trails = synthetic.trails(n_subjects=12, fixes_per_day=96, days=1)
    crimes = synthetic.crimes(n_crimes=40, days=1, extent_m=60_000.0)
    ids = (1000 + 7 * trails["subject"].cat.codes.to_numpy().astype(np.int64)).astype(str)
    as_text = trails.assign(subject=pd.Series(ids).astype(str))
    by_time = as_text.iloc[np.argsort(trails["time"].to_numpy(), kind="stable")]
    as_arrow = trails.assign(subject=pd.Series(pd.array(ids, dtype=pd.ArrowDtype(pa.string()))))
    return [trails, as_text, by_time.reset_index(drop=True), as_arrow], crimes


def compile_kernels() -> None:
    """Run the first user's paths once on small data (see the module docstring)."""
    import pyarrow as pa

    from trailmatch import Rules, match, trail_order
    from trailmatch.cli import main
    from trailmatch.eliminate import eliminate

    with tempfile.TemporaryDirectory(prefix="trailmatch-warmup-") as tmp:
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            code = main(["demo", "--out", str(Path(tmp) / "demo")])
        if code != 0:
            raise RuntimeError(f"the demo flow failed:\n{quiet.getvalue()}")
    frames, crimes = _frames_in_every_form()
    for precision in (False, True):
        rules = Rules(count_precision=precision)
        for frame in frames:
            match(frame, crimes, rules)
        eliminate(frames[1], crimes, rules)
    # a national column's strings are encoded in pieces at once (more than a million rows)
    trail_order.dictionary_codes(pa.chunked_array([pa.array(["7", "10", "7"])]), pieces=2)


def main() -> int:
    t0 = time.perf_counter()
    compile_kernels()
    print(f"trailmatch: kernels compiled and cached in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
