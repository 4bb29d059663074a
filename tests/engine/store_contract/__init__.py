"""The store contract, grouped by capability, one module each: every test here runs on every
backend (the fixtures in `conftest.py`)."""
