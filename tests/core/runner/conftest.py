"""Fixtures of the runner tests (the demo data, `demo_data`, is in tests/conftest.py)."""
import pytest


@pytest.fixture
def started():
    """A list for the processes a test starts; those still running at its end are killed."""
    processes = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
