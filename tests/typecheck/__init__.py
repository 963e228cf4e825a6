"""Modules that ``make typecheck`` checks and nothing runs: how calls type-check."""
