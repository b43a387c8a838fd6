"""Units shared by every module: time is int64 nanoseconds since 1970-01-01 UTC."""

from __future__ import annotations

NS_PER_S = 10**9
DAY_NS = 86_400 * NS_PER_S  # one UTC day; the store's partitions are UTC days
