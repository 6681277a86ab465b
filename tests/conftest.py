import os

from hypothesis import settings

pytest_plugins = ["pytester"]

# Property tests are derandomized: CI and every developer see the same examples, and a failure is
# reproduced by running the test again. HYPOTHESIS_PROFILE=explore searches afresh (locally).
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
