"""Helpers for testing ``pos`` and code built on it, shipped with the package (as structlog ships
``structlog.testing``): what a test suite needs that is not the program itself."""
