"""trailmatch: exact spatio-temporal matching of tag trails against reported crimes."""

from trailmatch.allocator import tune_allocator
from trailmatch.match import HIT_COLUMNS, match
from trailmatch.rules import Rules

__all__ = ["HIT_COLUMNS", "Rules", "match", "tune_allocator"]
__version__ = "0.1.0"
