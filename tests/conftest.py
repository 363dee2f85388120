"""Test-wide settings: Hypothesis profiles (``SLAWATCH_HYPOTHESIS=deep`` for a long local run)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SLAWATCH_HYPOTHESIS", "default"))
