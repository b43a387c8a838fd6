"""The matching rules: every knob of the vicinity contract in one immutable value.

Defaults are the contract's defaults (docs/vicinity.md, "The contract").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

WORKING_CRS = "EPSG:27700"


@dataclass(frozen=True)
class Rules:
    """What counts as "in the vicinity".

    radius_m          R: planar metres in the working CRS.
    max_gap_s         consecutive fixes further apart in time are not joined (a coverage gap).
    buffer_before_s   the crime window is widened by this much before "from" ...
    buffer_after_s    ... and this much after "to".
    count_precision   add the (interpolated) precision radius of the fixes to R.
    max_speed_mps     v_max of the space-time prism used for elimination.
    crs               the working CRS (metric); all x/y are in it.
    """

    radius_m: float = 100.0
    max_gap_s: float = 300.0
    buffer_before_s: float = 0.0
    buffer_after_s: float = 0.0
    count_precision: bool = True
    max_speed_mps: float = 50.0
    crs: str = WORKING_CRS

    def __post_init__(self) -> None:
        for name in ("radius_m", "max_gap_s", "buffer_before_s", "buffer_after_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"Rules.{name} must be a finite number >= 0, got {value!r}")
        if not (math.isfinite(self.max_speed_mps) and self.max_speed_mps > 0):
            raise ValueError(f"Rules.max_speed_mps must be > 0, got {self.max_speed_mps!r}")

    @property
    def buffer_before_ns(self) -> int:
        return int(round(self.buffer_before_s * 1e9))

    @property
    def buffer_after_ns(self) -> int:
        return int(round(self.buffer_after_s * 1e9))

    @property
    def max_gap_ns(self) -> int:
        return int(round(self.max_gap_s * 1e9))

    def to_dict(self) -> dict:
        return asdict(self)
