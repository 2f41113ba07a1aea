"""Session-wide test setup."""

from __future__ import annotations

import os
from pathlib import Path

# OpenCV's IPP picks its code by the CPU (AVX2, or AVX-512 where there is one), and the two round
# some float results differently in the last bit: the suite runs IPP's AVX2 code on every machine
# that has it (read at IPP's first use, and by the servers, CLIs and Ray workers that the tests
# start with their environment), so renders and measured margins are the same bits on all of them
os.environ.setdefault("OPENCV_IPP", "avx2")

import cv2  # noqa: E402
import numpy as np
import pytest

from tests.shared_data import INTERPOLATION, shared

#: modules that start a Ray cluster: run one after another in the same process, so two clusters
#: never compete for the machine's cores and Ray's port ranges
RAY_MODULES = {"test_farm", "test_farm_host", "test_farm_store"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """scripts/test.sh runs the suite in three processes with ``--dist loadfile``: a module's tests
    stay in one process (each module-scoped server, cluster or browser starts once), and the Ray
    modules share one."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "ray" if Path(module).stem in RAY_MODULES else module

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def c2pa_folder(tmp_path_factory):
    """Every render signs its media: the local signing certificate is made once for the session in
    a temporary folder (never in the user's config folder), and servers and CLIs started by the
    tests inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("c2pa") / "credentials"
        patch.setenv("SHOTFORGE_C2PA_DIR", str(folder))
        patch.delenv("SHOTFORGE_C2PA_CERT", raising=False)
        patch.delenv("SHOTFORGE_C2PA_KEY", raising=False)
        yield folder


@pytest.fixture(scope="module")
def alley() -> np.ndarray:
    """A real Sintel frame (RGB), a picture whose truth beyond any crop or mask is known."""
    path = shared(INTERPOLATION / "sintel_alley_1_clean" / "frame_0001.png")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
