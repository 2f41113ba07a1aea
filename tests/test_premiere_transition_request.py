"""A Premiere dissolve in the panel's request (plugins/premiere_cep/js/sf_core.js, run in node): the
panel lists a track's transitions in its metadata rather than as OTIO transitions, and an inpaint
or outpaint of a clip under one covers what it shows of the clip beyond its cut, frame-exact at
29.97 (premiere_example.xml's own 12/13-frame dissolve, realised as the panel reads it)."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools import RequestError
from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.request import parse_request_json
from tests.test_premiere_otio import SEQUENCES, build

pytestmark = pytest.mark.skipif(shutil.which("node") is None,
                                reason="node is not installed (needed to run the CEP panel's JavaScript)")

RATE = Fraction(30000, 1001)


def sequence(tmp_path: Path, transitions: list[tuple[str, int, int]]) -> Path:
    """example_2997 (premiere_example.xml as Premiere reports it) with ``transitions`` (name, first
    frame, end frame) on V4, where 'sc01_master_layerA_sh030_temp.mov' (956-1163) meets
    'sc01_sh010_anim.mov' (1164-1245, media 18-99)."""
    seq = json.loads((SEQUENCES / "example_2997.json").read_text())
    tpf = int(seq["timebase"])
    seq["videoTracks"][3]["transitions"] = [{"name": name, "nodeId": f"t{k}", "start": str(first * tpf),
                                             "end": str(end * tpf)} for k, (name, first, end) in
                                            enumerate(transitions)]
    path = tmp_path / "sequence.json"
    path.write_text(json.dumps(seq))
    return path


def media(path: str, where: str) -> MediaFacts:
    return MediaFacts(path, 1920, 1080, RATE, 400 if "layerA" in path else 100)


@pytest.mark.parametrize("operation, options", [("inpaint", {"region": [0, 0, 64, 48]}),
                                                ("outpaint", {"canvas": [1080, 1920]})])
def test_a_premiere_dissolve_is_covered_beyond_the_clips_cut(tmp_path, operation, options):
    text = build(sequence(tmp_path, [("Cross Dissolve", 1152, 1177)]), {"playhead": 1200},
                 {"operation": operation, "track": 3, **options})
    timeline, request = parse_request_json(text)
    assert not any(isinstance(c, otio.schema.Transition) for t in timeline.video_tracks() for c in t)
    plan = plan_request(timeline, request, media)
    # sh010 shows from 1152 (12 frames before its cut), media frames 6-99
    assert (plan.record_frame, plan.frames, plan.media_frames, plan.track) == (1152, 94, 94, 4)
    made = [plan.context.indices[i] for i in plan.inpaint.made] if plan.inpaint else list(plan.context.indices)
    assert made == list(range(6, 100))
    [note] = plan.notes
    assert "'Cross Dissolve' over frames 1152-1176" in note and "clip 'sc01_master_layerA_sh030_temp.mov'" in note

    build_a = build(sequence(tmp_path, [("Cross Dissolve", 1152, 1177)]), {"playhead": 1000},
                    {"operation": operation, "track": 3, **options})
    timeline, request = parse_request_json(build_a)
    plan = plan_request(timeline, request, media)
    assert (plan.record_frame, plan.frames) == (956, 208 + 13)  # the layer shows 13 frames past its cut


def test_a_fade_at_a_clips_end_that_stays_inside_it_changes_nothing(tmp_path):
    text = build(sequence(tmp_path, [("Dip to Black", 1236, 1246)]), {"playhead": 1200},
                 {"operation": "inpaint", "track": 3, "region": [0, 0, 64, 48]})
    plan = plan_request(*parse_request_json(text), media)
    assert (plan.record_frame, plan.frames, plan.notes) == (1164, 82, ())


def test_a_malformed_transition_list_is_refused_naming_the_track(tmp_path):
    text = build(sequence(tmp_path, [("Cross Dissolve", 1152, 1177)]), {"playhead": 1200},
                 {"operation": "inpaint", "track": 3, "region": [0, 0, 64, 48]})
    data = json.loads(text)
    data["tracks"]["children"][3]["metadata"]["premiere"]["transitions"] = [["Cross Dissolve", 1177, 1152]]
    timeline, request = parse_request_json(json.dumps(data))
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, media)
    assert caught.value.code == "malformed_otio" and "metadata.premiere.transitions" in caught.value.message
