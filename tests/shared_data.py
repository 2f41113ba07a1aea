"""Where the shared real-world test files are (../shared/data beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHOTFORGE_SHARED_DATA", REPO.parent / "shared" / "data"))
INTERCHANGE = SHARED_DATA / "interchange"
VIDEO = SHARED_DATA / "video"
INTERPOLATION = SHARED_DATA / "interpolation"


def shared(path: Path) -> Path:
    """A shared file; the test fails (not skips) when it is missing: these files are part of CI."""
    if not path.exists():
        pytest.fail(f"shared test data {path} is missing (set SHOTFORGE_SHARED_DATA to its folder)")
    return path
