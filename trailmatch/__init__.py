"""trailmatch: exact spatio-temporal matching of tag trails against reported crimes."""

from trailmatch.allocator import tune_allocator
from trailmatch.hits import HIT_COLUMNS
from trailmatch.match import match
from trailmatch.rules import Rules

__all__ = ["ALGORITHM_VERSION", "HIT_COLUMNS", "Rules", "match", "tune_allocator"]
__version__ = "0.1.0"
ALGORITHM_VERSION = f"trailmatch {__version__}"  # recorded with every run and report
