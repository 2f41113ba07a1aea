"""New media's start timecode on a Final Cut Pro (FCPXML) project: counted as the project's own
``tcFormat`` says (DF or NDF), as an FCP7 XML's ``displayformat`` is read."""

from __future__ import annotations

from fractions import Fraction

import pytest

from otio_tools.errors import RequestError
from otio_tools.interchange import read_any
from otio_tools.plan import plan_request
from otio_tools.request import request_from_timeline

PROJECT = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.11">
  <resources>
    <format id="r1" frameDuration="1001/30000s" width="1920" height="1080"/>
    <asset id="r2" name="A" start="0s" duration="300300/30000s" hasVideo="1" format="r1">
      <media-rep kind="original-media" src="file:///media/a.mov"/>
    </asset>
  </resources>
  <library><event name="e"><project name="p">
    <sequence format="r1" duration="60060/30000s" tcStart="0s" tcFormat="{counting}">
      <spine>
        <asset-clip ref="r2" offset="0s" name="A" duration="60060/30000s"/>
      </spine>
    </sequence>
  </project></event></library>
</fcpxml>
"""


def no_media(path: str, where: str):
    raise RequestError("media_missing", f"{where}: {path} is not here")


def generate_timecode(tmp_path, counting: str) -> str:
    source = tmp_path / f"{counting}.fcpxml"
    source.write_text(PROJECT.format(counting=counting))
    timeline, adapter = read_any(source)
    assert adapter == "fcpx_xml" and timeline.metadata["fcpx_xml"]["tcFormat"] == counting
    # one minute in: 00:01:00;02 drop-frame (frames 0 and 1 of minute 1 are dropped), 00:01:00:00 non-drop
    timeline.metadata["shotforge"] = {"version": 1, "operation": "generate", "track": 0, "range": [1800, 1812],
                                      "prompt": "dusk", "engine": "classical"}
    plan = plan_request(timeline, request_from_timeline(timeline), no_media)
    assert plan.rate == Fraction(30000, 1001)
    return plan.start_timecode


@pytest.mark.parametrize("counting, timecode", [("NDF", "00:01:00:00"), ("DF", "00:01:00;02")])
def test_a_2997_final_cut_pro_project_counts_new_media_as_it_says(tmp_path, counting, timecode):
    assert generate_timecode(tmp_path, counting) == timecode
