"""Repository-only test glue. User-facing pytest options live in the installed plugin.

Hypothesis profiles for the project's own tests: "ci" is derandomized (a fixed seed per test,
so a CI run is reproducible; a flaky test is a bug), "dev" explores with fresh randomness.
CI=true selects "ci"; HYPOTHESIS_PROFILE overrides.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)
