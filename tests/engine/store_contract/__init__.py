"""The store contract, grouped by capability, one module each: every test here runs on every
backend (the fixtures in `conftest.py`), and `test_interface.py` fails when a public `Store` name has
no contract test calling it."""
