"""Step definitions: glue between the Gherkin features and the chsm_checks library."""
