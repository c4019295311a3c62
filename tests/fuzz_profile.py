"""The hypothesis settings of the bounds fuzz tests: derandomized (the same examples on every run, so CI is
reproducible) and short by default; ``TRM_FUZZ_EXAMPLES=2000`` runs a longer search (docs/RELIABILITY.md)."""

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("TRM_FUZZ_EXAMPLES", "0")) or None


def fuzz(default: int):
    """``@fuzz(40)``: ``default`` examples per property, or ``TRM_FUZZ_EXAMPLES`` when set."""
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        derandomize=EXAMPLES is None,  # a longer run explores new examples
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
