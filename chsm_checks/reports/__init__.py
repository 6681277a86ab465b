"""The reports a run's ``summary.json`` is built into: the matrix, OSCAL, Cucumber JSON and JUnit agreeing
with it, the Allure results and the offline HTML pages."""
