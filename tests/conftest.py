"""Session-wide test setup."""

from __future__ import annotations

import pytest


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
