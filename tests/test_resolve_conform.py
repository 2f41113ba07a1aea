"""Conform placeholders in the Resolve plugin, end to end: fake Resolve (measured behaviour) ->
two generate placeholders made by the classical engine through the plugin, on a real
``shotforge serve`` on loopback -> Conform placeholders (``workflow.conform``, and the Lua entry
through the bridge) -> each new take re-rendered by ``POST /v1/takes/{id}/rerender`` and placed
beside its placeholder or swapped in, read back, frame-exact.

The test timeline (resolve_helpers.new_resolve, 25 fps), in frames from the timeline's first frame:
V1 = clip A at 0..39, a gap at 40..51, clip B at 52..91. The placeholders: one on the In/Out marks
100..123 (V1 is free there), one on 10..33 over clip A (on a new V2).
"""

from __future__ import annotations

import json

import httpx
import pytest

from resolve_helpers import (  # noqa: F401 (api_check: autouse; server: fixture)
    REPO, Server, api_check, make_media, new_resolve, server)

from lua_resolve import LuaResolve  # noqa: E402
from shotforge_resolve import settings as sf_settings  # noqa: E402
from shotforge_resolve import takes as sf_takes  # noqa: E402
from shotforge_resolve import workflow  # noqa: E402
from shotforge_resolve.errors import ContextError, JobCanceled  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402

GEN = "ShotForge generate take {}"


@pytest.fixture(autouse=True)
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))  # the take store goes there
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media("25", tmp_path_factory.mktemp("resolve_conform_media"))


def generate(resolve, timeline, server, first, last, tmp_path, **options):
    timeline.set_marks(first, last)
    values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical", seed=3, operation="generate",
                  prompt="rain on a window")
    values.update(options)
    result = workflow.run(resolve, values, workdir=str(tmp_path / "requests"), poll_interval=0.05)
    timeline.set_marks(None, None)
    return result


def placeholders(server, media, tmp_path):
    """The test timeline with two classical generate placeholders, as the plugin placed them."""
    resolve, timeline, _ = new_resolve("25", media)
    late = generate(resolve, timeline, server, 100, 123, tmp_path)
    over = generate(resolve, timeline, server, 10, 33, tmp_path, prompt="a lighthouse")
    for result in (late, over):
        assert result["job"]["result"]["placeholder"] is True and result["job"]["result"]["takes"]
    assert timeline.layout(0)[-1][:3] == (100, 124, GEN.format(1))
    assert [row[:3] for row in timeline.layout(1)] == [(10, 34, GEN.format(1))]
    return resolve, timeline, late, over


def conform(resolve, server, **options):
    values = dict(sf_settings.DEFAULTS, server_url=server.url, conform_engine="classical", conform_new_seed=True)
    values.update(options)
    updates = []
    answer = workflow.conform(resolve, values, on_update=updates.append, poll_interval=0.05)
    answer["updates"] = updates
    return answer


def marker_recipe(timeline, track, index):
    item = timeline.items(track)[index]
    marker, = item.GetMarkers().values()
    return json.loads(marker["customData"][len("shotforge:"):])


def media_of(timeline, track, index):
    return timeline.items(track)[index].GetMediaPoolItem().GetClipProperty("File Path")


def placed_rows(answer):
    """(track, record frame from the timeline start, duration) of every piece each unit placed."""
    return sorted((piece["track"], piece["start"], piece["duration"]) for unit in answer["units"]
                  for piece in unit.get("placed") or [])


def test_conform_beside_places_each_new_take_on_a_free_track_above(server, media, tmp_path):
    resolve, timeline, late, over = placeholders(server, media, tmp_path)
    v1, v2 = timeline.layout(0), timeline.layout(1)
    answer = conform(resolve, server)
    assert answer["message"].startswith("Conformed 2 of 2 ShotForge takes (each on a free track above"), answer
    # the placeholders stay exactly where they were
    assert timeline.layout(0) == v1 and timeline.layout(1)[0] == v2[0]
    start = timeline.start_frame
    # 100..123 on V1: V2 is free there; 10..33 on V2: V3 is added for it
    assert timeline.GetTrackCount("video") == 3
    assert [row[:3] for row in timeline.layout(1)] == [(10, 34, GEN.format(1)), (100, 124, GEN.format(2))]
    assert [row[:3] for row in timeline.layout(2)] == [(10, 34, GEN.format(2))]
    assert placed_rows(answer) == [(2, start + 100, 24), (3, start + 10, 24)]
    new_late, new_over = marker_recipe(timeline, 1, 1), marker_recipe(timeline, 2, 0)
    assert new_late["take"] == new_over["take"] == 2 and new_late["engine"] == "classical"
    assert {new_late["job"], new_over["job"]}.isdisjoint({late["job"]["id"], over["job"]["id"]})
    assert (new_late["prompt"], new_over["prompt"]) == ("rain on a window", "a lighthouse")
    assert media_of(timeline, 1, 1) != late["placed"][0]["media"]
    # progress went over the whole conform, up to done
    assert answer["updates"][-1] == {"state": "done", "progress": 1.0, "stage": "2 of 2 re-renders finished"}
    assert all(a["progress"] <= b["progress"] for a, b in zip(answer["updates"], answer["updates"][1:]))
    # the take store: both old takes kept, each new one take 2 of its slot, a new server take
    records = sf_takes.results(timeline.uid)  # in order: the placeholders, then V1's new take, then V2's
    assert [r["take"] for r in records] == [1, 1, 2, 2]
    assert [r["slot"] for r in records[2:]] == [r["slot"] for r in records[:2]]
    for record in records[2:]:
        job = httpx.get(f"{server.url}/v1/jobs/{record['job']}").json()
        take = httpx.get(f"{server.url}/v1/takes/{job['result']['takes'][0]}").json()
        assert take["slot"]["frames"] == 24 and take["engine"] == "classical"


def test_conform_swap_in_replaces_each_placeholder_in_its_slot(server, media, tmp_path):
    resolve, timeline, late, over = placeholders(server, media, tmp_path)
    before = [[row[:2] + row[4:] for row in timeline.layout(t)] for t in (0, 1)]
    answer = conform(resolve, server, conform_mode="swap")
    assert answer["message"].startswith("Conformed 2 of 2 ShotForge takes (each swapped into its slot)"), answer
    assert timeline.GetTrackCount("video") == 2
    # same slots (record frame, duration, track, source in), take 2 in each, new media
    assert [[row[:2] + row[4:] for row in timeline.layout(t)] for t in (0, 1)] == before
    assert timeline.layout(0)[-1][2] == timeline.layout(1)[0][2] == GEN.format(2)
    assert media_of(timeline, 0, 2) != late["placed"][0]["media"]
    assert media_of(timeline, 1, 0) != over["placed"][0]["media"]
    assert placed_rows(answer) == [(1, timeline.start_frame + 100, 24), (2, timeline.start_frame + 10, 24)]
    records = sf_takes.results(timeline.uid)
    assert [r["take"] for r in records] == [2, 2]
    assert [h["job"] for r in records for h in r["history"]] == [late["job"]["id"], over["job"]["id"]]


def test_a_failing_swap_is_named_and_put_back_while_the_other_is_done(server, media, tmp_path):
    resolve, timeline, late, over = placeholders(server, media, tmp_path)
    v1 = timeline.layout(0)
    resolve.project.media_pool.misplace_next_append(short=1)  # the first new take lands one frame short
    answer = conform(resolve, server, conform_mode="swap")
    message = answer["message"]
    assert message.startswith("Conformed 1 of 2"), message
    # the one on V1 at frame 100 (the timeline starts at 10:00:00:00, 25 fps) is named, with the reason
    assert "Not conformed: 'ShotForge generate take 1' on V1 at 10:00:04:00: Could not place 24 frames" in message
    assert "Resolve placed 23 frames" in message and "was put back from its media" in message
    assert "the rest of the timeline is as it was before" in message and not message.endswith("..")
    assert timeline.layout(0) == v1  # the placeholder is back exactly (same place, source range, name)
    assert marker_recipe(timeline, 0, 2) == {"job": late["job"]["id"], "take": 1, "operation": "generate",
                                             "engine": "classical", "model": "", "prompt": "rain on a window",
                                             "seed": 3}
    assert [row[:3] for row in timeline.layout(1)] == [(10, 34, GEN.format(2))]
    assert sorted(r["take"] for r in sf_takes.results(timeline.uid)) == [1, 2]


def test_a_take_the_server_has_no_record_of_is_named(server, media, tmp_path):
    resolve, timeline, late, over = placeholders(server, media, tmp_path)
    other = Server(tmp_path / "other" / "out").start()
    try:  # a third placeholder, made by another server
        elsewhere = generate(resolve, timeline, other, 200, 211, tmp_path)
    finally:
        other.stop()
    answer = conform(resolve, server)
    message = answer["message"]
    assert message.startswith("Conformed 2 of 3"), message
    assert (f"Not conformed: 'ShotForge generate take 1' on V2 at 10:00:08:00: the server at {server.url} has no "
            f"record of its job {elsewhere['job']['id']} (another server rendered it") in message
    assert [row[:3] for row in timeline.layout(1)] == [(10, 34, GEN.format(1)), (100, 124, GEN.format(2)),
                                                       (200, 212, GEN.format(1))]
    assert [row[:3] for row in timeline.layout(2)] == [(10, 34, GEN.format(2))]


def test_classical_results_are_conformed_only_when_asked(server, media, tmp_path):
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(45)
    values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical", seed=3, operation="fill_gap")
    workflow.run(resolve, values, workdir=str(tmp_path / "requests"), poll_interval=0.05)
    assert timeline.layout(0)[1][:3] == (40, 52, "ShotForge fill gap take 1")
    with pytest.raises(ContextError, match="no ShotForge placeholder on"):
        conform(resolve, server)
    answer = conform(resolve, server, conform_classical=True, conform_mode="swap")
    assert answer["message"].startswith("Conformed 1 of 1"), answer
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (40, 52, "ShotForge fill gap take 2"),
                                                       (52, 92, "B")]


def test_cancel_stops_every_re_render_and_places_nothing(server, media, tmp_path):
    resolve, timeline, _ = new_resolve("25", media)
    generate(resolve, timeline, server, 100, 147, tmp_path)
    before = timeline.snapshot()
    with pytest.raises(JobCanceled, match="nothing was placed"):
        workflow.conform(resolve, dict(sf_settings.DEFAULTS, server_url=server.url, conform_engine="classical"),
                         should_cancel=lambda: True, poll_interval=0.05)
    assert timeline.snapshot() == before
    newest, = httpx.get(f"{server.url}/v1/jobs", params={"limit": 1}).json()["jobs"]
    assert newest["id"] != sf_takes.results(timeline.uid)[0]["job"] and newest["state"] == "canceled"


def test_bad_conform_choices_are_refused_before_anything_is_sent(server, media, tmp_path):
    resolve, timeline, _ = new_resolve("25", media)
    with pytest.raises(ContextError, match="needs the diffusers engine"):
        conform(resolve, server, conform_engine="classical", conform_model="wan-tiny")
    with pytest.raises(ContextError, match="Conform mode 'over'"):
        conform(resolve, server, conform_mode="over")


def test_conform_with_a_tiny_diffusers_model_lands_each_take_in_its_slot(media, tmp_path):
    pytest.importorskip("diffusers")
    from tests.tiny_wan import save_tiny_pipeline

    models = tmp_path / "models"
    save_tiny_pipeline(models / "tiny-vace")
    srv = Server(tmp_path / "model_server" / "out", args=("--models", str(models))).start(timeout=120)
    try:
        resolve, timeline, late, over = placeholders(srv, media, tmp_path)
        before = [[row[:2] + row[4:] for row in timeline.layout(t)] for t in (0, 1)]
        answer = conform(resolve, srv, conform_engine="diffusers", conform_model="tiny-vace", conform_mode="swap",
                         conform_new_seed=False)
        assert answer["message"].startswith("Conformed 2 of 2"), answer
        assert [[row[:2] + row[4:] for row in timeline.layout(t)] for t in (0, 1)] == before
        for track, index, old in ((0, 2, late), (1, 0, over)):
            recipe = marker_recipe(timeline, track, index)
            assert (recipe["take"], recipe["engine"], recipe["model"], recipe["seed"]) == (2, "diffusers",
                                                                                           "tiny-vace", 3)
            job = httpx.get(f"{srv.url}/v1/jobs/{recipe['job']}").json()["result"]
            assert job["placeholder"] is False
            take = httpx.get(f"{srv.url}/v1/takes/{job['takes'][0]}").json()
            first = httpx.get(f"{srv.url}/v1/takes/{old['job']['result']['takes'][0]}").json()
            assert take["slot"] == first["slot"] and take["model"] == "tiny-vace"
        # nothing is left to conform: the model's takes are not placeholders
        with pytest.raises(ContextError, match="no ShotForge placeholder on"):
            conform(resolve, srv)
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- Lua entry
def test_the_lua_entry_conforms_through_the_bridge(server, media, tmp_path):
    resolve, timeline, late, over = placeholders(server, media, tmp_path)
    before = [[row[:2] + row[4:] for row in timeline.layout(t)] for t in (0, 1)]
    lua = LuaResolve()
    updates = []
    answer = lua.call("conform", resolve, {"server_url": server.url, "conform_engine": "classical",
                                           "conform_new_seed": True, "conform_mode": "swap"},
                      lambda record: updates.append(lua.to_py(record)))
    assert answer["ok"], answer
    assert answer["message"].startswith("Conformed 2 of 2 ShotForge takes (each swapped into its slot)"), answer
    assert [[row[:2] + row[4:] for row in timeline.layout(t)] for t in (0, 1)] == before
    assert timeline.layout(0)[-1][2] == timeline.layout(1)[0][2] == GEN.format(2)
    assert updates and updates[-1]["progress"] == 1.0
    assert [r["take"] for r in sf_takes.results(timeline.uid)] == [2, 2]
    # and beside, through the bridge: take 3 of each slot above it
    answer = lua.call("conform", resolve, {"server_url": server.url, "conform_engine": "classical",
                                           "conform_classical": True})
    assert answer["ok"] and answer["message"].startswith("Conformed 2 of 2"), answer
    assert [row[:3] for row in timeline.layout(1)] == [(10, 34, GEN.format(2)), (100, 124, GEN.format(3))]
    assert [row[:3] for row in timeline.layout(2)] == [(10, 34, GEN.format(3))]
    assert read_facts(resolve)["timeline"]["id"] == timeline.uid
