"""Progress of a job: bars with counts and rate on a terminal, one line per stage off it."""

from __future__ import annotations

import io
import re

from trailmatch.progress import Stages


def _run(stages: Stages) -> None:
    with stages.stage("read", total=3, unit="file") as st:
        for _ in range(3):
            st.update()
    with stages.stage("outputs", unit="batch") as st:
        for force in st.track(["Hampshire", "Sussex"]):
            with st.part(force, total=4, unit="crime") as part:
                for _ in range(4):
                    part.update()


def test_off_a_terminal_one_line_per_stage_with_its_time_and_count():
    out = io.StringIO()
    stages = Stages("nightly", stream=out, tty=False)
    _run(stages)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"nightly: read \d+\.\d\d s \(3 file\)", lines[0])
    assert re.fullmatch(r"nightly: outputs \d+\.\d\d s \(2 batch\)", lines[1])
    assert set(stages.seconds) == {"read", "outputs"}


def test_on_a_terminal_every_stage_and_force_has_a_bar_with_counts_and_rate():
    out = io.StringIO()
    _run(Stages("nightly", stream=out, tty=True))
    text = out.getvalue()
    assert "read: 100%" in text and "3/3" in text
    assert "outputs" in text and "2/2" in text
    for force in ("Hampshire", "Sussex"):  # a bar per force inside the stage
        assert re.search(rf"outputs {force}: .*\d/4 ", text), force
    assert re.search(r"\d+(\.\d+)? ?(file|batch|crime)/s", text)  # the rate
    assert "nightly: read" not in text  # no log lines on a terminal
