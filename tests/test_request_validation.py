"""metadata.shotforge validation: every mistake refused with a stable code and a one-line message
that names it (a typo'd key with the key it meant), and every request the plugins send accepted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools import RequestError, parse_request_json, read_request, request_from_timeline
from otio_tools.request import KNOWN_KEYS

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
REPO = Path(__file__).resolve().parents[1]
OPERATIONS = "extend, fill_gap, outpaint, generate, inpaint"


def cut(rate: float = 24.0) -> otio.schema.Timeline:
    """V1: clip A at record 0-23, a gap at 24-35, clip B at 36-59: the timeline is 60 frames long."""
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    ref = otio.schema.ExternalReference("file:///media/a.mov", available_range=TR(RT(0, rate), RT(200, rate)))
    track.append(otio.schema.Clip(name="A", source_range=TR(RT(0, rate), RT(24, rate)), media_reference=ref))
    track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(12, rate))))
    track.append(otio.schema.Clip(name="B", source_range=TR(RT(50, rate), RT(24, rate)), media_reference=ref.clone()))
    return timeline


def refused(meta: dict, timeline: otio.schema.Timeline | None = None) -> RequestError:
    timeline = timeline or cut()
    timeline.metadata["shotforge"] = meta
    with pytest.raises(RequestError) as caught:
        request_from_timeline(timeline)
    message = caught.value.message
    assert "\n" not in message and message == str(caught.value)
    return caught.value


EXTEND = {"version": 1, "operation": "extend", "track": 0, "frame": 10, "side": "tail", "frames": 12}


# ------------------------------------------------------------------------------- keys
@pytest.mark.parametrize("key, meant", [("frmaes", "frames"), ("refrence_frame", "reference_frame"),
                                        ("negativeprompt", "negative_prompt"), ("Seed", "seed"),
                                        ("plcement", "placement"), ("stpes", "steps")])
def test_a_typo_is_refused_with_the_key_it_meant(key, meant):
    error = refused({**EXTEND, key: 3})
    assert error.code == "bad_request"
    assert error.message == f"unknown key {key!r} in metadata.shotforge: did you mean {meant!r}?"


def test_an_unknown_key_with_no_near_match_lists_the_keys():
    error = refused({**EXTEND, "wibble": "red"})
    assert error.code == "bad_request"
    assert error.message.startswith("unknown key 'wibble' in metadata.shotforge: the keys are version, operation,")
    assert all(key in error.message for key in KNOWN_KEYS)


def _keys_sent_by_the_plugins() -> set[str]:
    """Every metadata.shotforge key the Resolve plugin and the Premiere panel write, read from their code."""
    resolve = (REPO / "plugins/resolve/shotforge_resolve/context.py").read_text()
    premiere = (REPO / "plugins/premiere_cep/js/sf_core.js").read_text()
    keys = set(re.findall(r'meta\["(\w+)"\]\s*=', resolve))
    keys |= set(re.findall(r'"(\w+)":', re.search(r"meta = \{([^}]*)\}", resolve).group(1)))
    keys |= set(re.findall(r"\bsf\.(\w+)\s*=", premiere))
    keys |= set(re.findall(r"(\w+):", re.search(r"var sf = \{([^}]*)\}", premiere).group(1)))
    return keys


def test_every_key_the_plugins_send_is_known():
    sent = _keys_sent_by_the_plugins()
    # the parse found the plugins' requests, not nothing
    assert {"version", "operation", "track", "frame", "range", "side", "frames", "canvas", "prompt", "seed",
            "reference_frame", "engine", "placement", "reference_image"} <= sent
    assert sent <= set(KNOWN_KEYS), sent - set(KNOWN_KEYS)


def test_every_request_the_plugins_send_is_accepted():
    timeline = cut()
    # The Resolve plugin's extend with every option it has, the engine options included.
    timeline.metadata["shotforge"] = {
        **EXTEND, "prompt": "the car drives on", "negative_prompt": "", "seed": 7, "reference_frame": 59,
        "engine": "diffusers", "placement": "auto", "drop_frame": False, "reference_image": "/stills/a.png",
        "steps": 12, "guidance": 2.5, "model": "wan-vace"}
    request = request_from_timeline(timeline)
    assert (request.side, request.frames, request.reference_frame) == ("tail", 12, 59)
    assert request.extra == {"reference_image": "/stills/a.png", "steps": 12, "guidance": 2.5, "model": "wan-vace"}
    # The Premiere panel's four operations as buildRequest writes them.
    common = {"version": 1, "track": 0, "prompt": "", "negative_prompt": "", "seed": 0, "engine": "auto",
              "placement": "above"}
    for meta in ({"operation": "extend", "frame": 40, "side": "head", "frames": 6},
                 {"operation": "fill_gap", "frame": 30},
                 {"operation": "outpaint", "frame": 5, "canvas": [1080, 1920]},
                 {"operation": "generate", "range": [60, 84], "canvas": [640, 360], "reference_frame": 0}):
        timeline.metadata["shotforge"] = {**common, **meta}
        assert request_from_timeline(timeline).operation == meta["operation"]


# ------------------------------------------------------------------------------- operation and side
def test_no_operation():
    error = refused({"version": 1, "track": 0, "frame": 10})
    assert (error.code, error.message) == ("bad_request",
                                           f"metadata.shotforge has no operation: one of {OPERATIONS}")


def test_an_unknown_operation_suggests_the_near_one():
    error = refused({"version": 1, "operation": "extnd", "frame": 10})
    assert error.code == "bad_request"
    assert error.message == f"metadata.shotforge.operation 'extnd' is not one of {OPERATIONS}: did you mean 'extend'?"
    assert refused({"operation": "zoom", "frame": 1}).message.endswith(f"is not one of {OPERATIONS}")


def test_extend_needs_a_side():
    meta = dict(EXTEND)
    del meta["side"]
    error = refused(meta)
    assert (error.code, error.message) == ("bad_request", "extend needs side: 'head' or 'tail'")
    error = refused({**EXTEND, "side": "end"})
    assert (error.code, error.message) == ("bad_request", "metadata.shotforge.side 'end' must be 'head' or 'tail'")


# ------------------------------------------------------------------------------- values
OUTPAINT = {"version": 1, "operation": "outpaint", "frame": 10}
RULE = "each must be an even whole number of pixels from 16 to 8192 (4:2:2 video)"


@pytest.mark.parametrize("canvas, code, message", [
    ([0, -4], "bad_request",
     f"metadata.shotforge.canvas [0, -4] is not a picture size ShotForge makes: width 0 and height -4; {RULE}"),
    ([1081, 1920], "bad_request",
     f"metadata.shotforge.canvas [1081, 1920] is not a picture size ShotForge makes: width 1081 and height 1920; "
     f"{RULE}"),
    ([9000, 1080], "too_large",
     f"metadata.shotforge.canvas [9000, 1080] is too large: width 9000 and height 1080; {RULE}"),
    (["wide", 1080], "bad_request",
     f"metadata.shotforge.canvas ['wide', 1080] is not a picture size: width and height {RULE}"),
    ([1920], "bad_request", "metadata.shotforge.canvas must be [width, height] in pixels, not [1920]"),
])
def test_canvas_names_both_values_and_the_rule(canvas, code, message):
    error = refused({**OUTPAINT, "canvas": canvas})
    assert (error.code, error.message) == (code, message)


@pytest.mark.parametrize("meta, code, words", [
    ({**EXTEND, "frame": float("nan")}, "bad_request", "metadata.shotforge.frame must be a whole number, not nan"),
    ({**EXTEND, "frames": float("inf")}, "bad_request", "metadata.shotforge.frames must be a whole number, not inf"),
    ({**EXTEND, "frames": True}, "bad_request", "metadata.shotforge.frames must be a whole number, not True"),
    ({**EXTEND, "frames": 7.0}, None, None),  # JSON numbers written as 7.0 are still whole
    ({**EXTEND, "engine": "difusers"}, "bad_request",
     "metadata.shotforge.engine 'difusers' is not one of auto, classical, diffusers: did you mean 'diffusers'?"),
    ({**EXTEND, "placement": "below"}, "bad_request",
     "metadata.shotforge.placement 'below' must be 'auto', 'above' or 'overwrite'"),
    ({**EXTEND, "prompt": ["a", "b"]}, "bad_request", "metadata.shotforge.prompt must be text, not list"),
    ({"version": 1, "operation": "generate", "range": [40, 40]}, "bad_request",
     "metadata.shotforge.range [40, 40) is empty: out must be after in"),
])
def test_values(meta, code, words):
    if code is None:
        timeline = cut()
        timeline.metadata["shotforge"] = meta
        assert request_from_timeline(timeline).frames == 7
        return
    error = refused(meta)
    assert (error.code, error.message) == (code, words)


def test_deeply_nested_metadata_is_refused_not_recursed():
    deep: object = 1
    for _ in range(900):
        deep = [deep]
    error = refused({**EXTEND, "model": deep})
    assert (error.code, error.message) == ("bad_request", "metadata.shotforge is nested more than 16 levels deep")


# ------------------------------------------------------------------------------- reference frame
@pytest.mark.parametrize("meta", [
    dict(EXTEND),
    {"version": 1, "operation": "fill_gap", "frame": 30},
    {"version": 1, "operation": "outpaint", "frame": 5, "canvas": [1080, 1920]},
    {"version": 1, "operation": "generate", "range": [60, 84]},
], ids=lambda meta: meta["operation"])
def test_reference_frame_outside_the_timeline_is_refused_for_every_operation(meta):
    error = refused({**meta, "reference_frame": 60})
    assert error.code == "outside_timeline"
    assert error.message == ("metadata.shotforge.reference_frame 60 is outside the timeline: it is 60 frames long "
                             "(frames 0-59)")
    timeline = cut()
    timeline.metadata["shotforge"] = {**meta, "reference_frame": 59}  # its last frame is fine
    assert request_from_timeline(timeline).reference_frame == 59
    assert refused({**meta, "reference_frame": -1}).message == ("metadata.shotforge.reference_frame is -1; "
                                                                 "it must be at least 0")


def test_reference_frame_counts_from_the_first_frame_at_a_one_hour_start():
    timeline = cut()
    timeline.global_start_time = RT(86400, 24)  # 01:00:00:00: record frames still count from 0
    timeline.metadata["shotforge"] = {**EXTEND, "reference_frame": 59}
    assert request_from_timeline(timeline).reference_frame == 59
    assert refused({**EXTEND, "reference_frame": 86400}, timeline).code == "outside_timeline"


def test_a_timeline_time_that_is_not_a_number_is_refused():
    timeline = cut()
    timeline.global_start_time = RT(0, float("nan"))
    error = refused({**EXTEND, "reference_frame": 5}, timeline)
    assert error.code == "unsupported_rate" and "runs at nan fps" in error.message
    timeline = cut()
    timeline.global_start_time = RT(0, 24)
    timeline.video_tracks()[0][0].source_range = TR(RT(0, 24), RT(float("inf"), 24))
    error = refused({**EXTEND, "reference_frame": 5}, timeline)
    assert (error.code, error.message) == ("malformed_otio", "the timeline holds a time of inf at 24 fps, "
                                                             "which is not a time")


# ------------------------------------------------------------------------------- files
def write_request(path: Path, meta: dict) -> Path:
    timeline = cut()
    timeline.metadata["shotforge"] = meta
    otio.adapters.write_to_file(timeline, str(path))
    return path


@pytest.mark.parametrize("name, content, code, words", [
    ("notes.txt", "password", "malformed_otio", "is not a timeline OTIO can read: no adapter for the file extension "
                                                ".txt (a request is an .otio file)"),
    ("broken.otio", '{"OTIO_SCHEMA": "Timeline.1", "tracks": ', "malformed_otio", "is not a readable OTIO file"),
    ("clip.otio", otio.adapters.write_to_string(otio.schema.Clip(name="c"), "otio_json"), "malformed_otio",
     "holds no OTIO timeline (its top object is Clip)"),
    ("missing.otio", None, "request_missing", "does not exist"),
    ("folder.otio", "", "malformed_otio", "is a folder, not a request file"),
])
def test_a_bad_request_file_is_named_once(tmp_path, name, content, code, words):
    path = tmp_path / name
    if name.startswith("folder"):
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RequestError) as caught:
        read_request(str(path))
    assert caught.value.code == code and words in caught.value.message
    assert caught.value.message.count(name) == 1, caught.value.message


def test_a_request_file_round_trips_and_its_typos_are_refused(tmp_path):
    _, request = read_request(str(write_request(tmp_path / "ok.otio", EXTEND)))
    assert request.side == "tail"
    with pytest.raises(RequestError, match=r"^unknown key 'frmaes' in metadata.shotforge: did you mean 'frames'\?$"):
        read_request(str(write_request(tmp_path / "typo.otio", {**EXTEND, "frmaes": 12})))


def test_request_body_errors():
    with pytest.raises(RequestError) as caught:
        parse_request_json(b'{"OTIO_SCHEMA": "Timeline.1", ')
    assert caught.value.code == "malformed_otio"
    assert caught.value.message.startswith("request body is not valid OTIO JSON: ")
    assert caught.value.message.count("request body") == 1
    timeline = cut()
    timeline.metadata["shotforge"] = {"version": 1, "operation": "extend", "frame": 3, "frames": 4}
    with pytest.raises(RequestError, match=r"^extend needs side: 'head' or 'tail'$"):
        parse_request_json(otio.adapters.write_to_string(timeline, "otio_json"))
    assert json.loads(otio.adapters.write_to_string(timeline, "otio_json"))["metadata"]["shotforge"]["frame"] == 3
