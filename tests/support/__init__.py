"""Helpers for the harness's own tests: a real sandbox process, the CLI as a subprocess."""
