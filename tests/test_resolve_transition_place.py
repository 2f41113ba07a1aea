"""An inpaint of a clip under a dissolve in Resolve, from the timeline's OTIO export to the placed
take, against the fake Resolve (which drops overlapping appends and reads placements back, as
real Resolve is measured to): the result covers what the dissolve shows of the clip beyond its
cut, lands above over all of it, and the editor's clips and dissolve stay as they were; an
overwrite there is refused (Resolve's API cannot put a transition back)."""

from __future__ import annotations

import shutil

import opentimelineio as otio
import pytest

from resolve_helpers import api_check, make_media, new_resolve  # noqa: F401 (api_check: autouse fixture)

from fake_resolve_export import export_otio  # noqa: E402
from otio_tools import request_from_timeline  # noqa: E402
from otio_tools.media import MediaFacts  # noqa: E402
from otio_tools.plan import plan_request  # noqa: E402
from server import media_io  # noqa: E402
from shotforge_resolve import place  # noqa: E402
from shotforge_resolve.errors import PlacementError  # noqa: E402
from shotforge_resolve.executor import execute  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402

TAKE = {"job": "job-1", "take": 1, "operation": "inpaint", "engine": "classical", "model": "", "prompt": "",
        "seed": 7}


def probed(path: str, where: str) -> MediaFacts:
    info = media_io.probe(path)
    return MediaFacts(path, info.width, info.height, info.rate, info.frames, info.start_timecode)


def planned(resolve_timeline, **shotforge):
    exported = otio.adapters.read_from_string(export_otio(resolve_timeline), "otio_json")
    exported.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "frame": 60, "region": [0, 0, 8, 8],
                                      **shotforge}
    return plan_request(exported, request_from_timeline(exported), probed)


@pytest.mark.parametrize("key", ["23.976", "29.97DF"])
def test_an_inpaint_under_a_resolve_dissolve_is_placed_above_over_all_it_shows(key, tmp_path):
    media = make_media(key, tmp_path / "media")
    resolve, timeline, item = new_resolve(key, media)
    timeline.clip(0, item, 100, 92, 10, name="C")
    timeline.transition(0, 92, 4)  # B dissolves into C over 90-93: B shows 2 frames past its out point
    before = timeline.layout(0)
    plan = planned(timeline)
    assert (plan.record_frame, plan.frames, plan.media_frames) == (52, 42, 42)
    assert [plan.context.indices[i] for i in plan.inpaint.made] == list(range(60, 102))

    render = shutil.copyfile(media, tmp_path / "render.mov")  # stands in for the job's media (42 frames)
    placements = [p.to_dict() for p in plan.placements(str(render))]
    steps = place.plan_steps(read_facts(resolve), placements, {"placement": "auto"}, TAKE)
    done = execute(resolve, steps)
    assert timeline.layout(1) == [(52, 94, "ShotForge inpaint take 1", "render.mov", 0)]
    assert timeline.layout(0) == before  # the editor's clips and
    assert [(e.name, e.start, e.frames) for e in timeline.tracks[0]["entries"] if e.kind == "transition"] == \
           [("Cross Dissolve", 90, 4)]  # their dissolve stay
    [new] = done["placed"]
    assert (new["track"], new["duration"], new["left_offset"]) == (2, 42, 0)


def test_an_overwrite_under_a_resolve_dissolve_is_refused_before_any_step(tmp_path):
    media = make_media("25", tmp_path / "media")
    resolve, timeline, item = new_resolve("25", media)
    timeline.clip(0, item, 100, 92, 10, name="C")
    timeline.transition(0, 92, 4)
    before = timeline.layout(0)
    plan = planned(timeline, placement="overwrite")
    # the clip's cut from media that also holds the 2 frames the dissolve shows past it
    assert (plan.record_frame, plan.frames, plan.media_frames, plan.media_in) == (52, 40, 42, 0)
    placements = [p.to_dict() for p in plan.placements(str(media))]
    with pytest.raises(PlacementError) as caught:
        place.plan_steps(read_facts(resolve), placements, {"placement": "overwrite"}, TAKE)
    assert "the transition 'Cross Dissolve' is at its edge" in caught.value.message
    assert timeline.layout(0) == before
