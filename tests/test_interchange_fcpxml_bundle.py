"""Final Cut Pro 10.6 and later export FCPXML as a bundle, a folder ``NAME.fcpxmld`` holding
``Info.fcpxml``: read as the same timeline as the plain file, and a result written back as a
bundle beside result.otio."""

from __future__ import annotations

import shutil

import pytest

from otio_tools.errors import RequestError
from otio_tools.fcpxml import cut
from otio_tools.interchange import read_any, write_in_format
from tests.shared_data import INTERCHANGE, shared

EXPORT = "fcpx_1.11_29.97df.fcpxml"


def test_a_bundle_reads_as_its_info_fcpxml_and_is_written_back_as_a_bundle(tmp_path):
    bundle = tmp_path / "edit.fcpxmld"
    bundle.mkdir()
    shutil.copy(shared(INTERCHANGE / EXPORT), bundle / "Info.fcpxml")
    timeline, adapter = read_any(bundle)
    plain, _ = read_any(shared(INTERCHANGE / EXPORT))
    assert adapter == "fcpx_xml" and cut(timeline) == cut(plain)
    out = tmp_path / "out"
    out.mkdir()
    written = write_in_format(timeline, adapter, bundle, out)
    assert written == {"format": "FCPXML", "path": str(out / "result.fcpxmld")}
    assert sorted(p.name for p in out.iterdir()) == ["result.fcpxmld"]
    back, _ = read_any(out / "result.fcpxmld")
    assert cut(back) == cut(plain)
    written = write_in_format(timeline, adapter, bundle, out)  # again: the bundle is replaced, not nested
    assert [p.name for p in (out / "result.fcpxmld").iterdir()] == ["Info.fcpxml"]


def test_a_bundle_without_its_info_fcpxml_is_refused_naming_it(tmp_path):
    bundle = tmp_path / "edit.fcpxmld"
    bundle.mkdir()
    with pytest.raises(RequestError, match=r"edit.fcpxmld is a Final Cut Pro bundle without its Info.fcpxml"):
        read_any(bundle)
