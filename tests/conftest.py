"""Shared pytest fixtures."""
from pathlib import Path

import pytest

#: The read-only reference data beside the checkout (``../shared``).  Tests that
#: need it skip with a reason when it is absent; the package never reads it.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        pytest.skip(f"reference data directory {SHARED} (../shared beside the checkout) is absent")
    return SHARED
