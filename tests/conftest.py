"""Hypothesis profiles: `ci` (default; derandomized, bounded) and `thorough` (10x examples).

Select with NUMGRAD_HYPOTHESIS_PROFILE=thorough.

Every test starts with no steps kept from earlier calls (numgrad.differences.steps: a local batched f's
second call joins its probe and pass). Results never depend on them, but which calls f sees does, and a
new f may take the address of a freed one: each test sees first calls as a user's new process does, and
tests/differences/test_joined.py asserts what later calls do.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from numgrad.differences import steps

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=250,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("NUMGRAD_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _no_steps_kept():
    steps._LAST_STEPS.clear()
