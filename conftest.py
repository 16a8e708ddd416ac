"""Repository-wide pytest setup (tests/ and plugins/*/tests): the skip rules of tests/skips.py."""

pytest_plugins = ["tests.skips"]
