"""A one-model Django application for the compat tests (settings: ../conftest.py)."""
