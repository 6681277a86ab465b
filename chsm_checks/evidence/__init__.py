"""Evidence: per-scenario files and Allure attachments (``store``), and the signed bundle (``bundle``).

Kept empty so ``chsm-checks verify`` loads only what verifying needs.
"""
