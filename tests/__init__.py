"""The test suite, one package per package of `anomaly` (tests/core ↔ anomaly/core, …).

Every test folder is a package, so test modules have unique dotted names and import shared
helpers by their full name: `from tests.conftest import make_tabular`,
`from tests.jobs.batchkit import cli`.
"""
