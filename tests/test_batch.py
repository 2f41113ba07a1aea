"""Batch and storyboard: a marked-up timeline rendered in one run on the classical engine, by
``shotforge batch`` and by POST /v1/batches: short gaps filled, marked clips extended, duration
markers generated over exactly their range, each item its own job, failures named, a crash
resumed without losing or repeating an item, and one result.otio carrying every result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.batch import find_items
from otio_tools.interchange import read_any
from otio_tools.takes import take_from_metadata
from otio_tools.timeline import rate_of, track_items
from tests.serverutil import CARPHONE, REPO, RT, TR, ServerProcess, copy_media, two_clip_timeline, wait_job
from tests.shared_data import INTERCHANGE, shared

RATE = CARPHONE[1]


def storyboard(media: Path, missing: Path) -> otio.schema.Timeline:
    """V1: A 0-54 | gap 55-64 | B 65-119 (marked 'sf extend tail 12') | gap 120-159 | C 160-199 (marked
    'sf extend tail 8', its media missing; and 'sf extend head' with no length); a timeline
    marker 'sf generate: a red car' over 125-136, where B's extension will be."""
    timeline = two_clip_timeline(media, RATE, clip_frames=55, gap=10)
    timeline.name = "storyboard"
    v1 = timeline.video_tracks()[0]
    v1.append(otio.schema.Gap(source_range=TR(RT(0, RATE), RT(40, RATE))))
    v1.append(otio.schema.Clip(name="C", source_range=TR(RT(0, RATE), RT(40, RATE)),
                               media_reference=otio.schema.ExternalReference(
                                   missing.as_uri(), available_range=TR(RT(0, RATE), RT(120, RATE)))))
    b, c = v1[2], v1[4]
    b.markers.append(otio.schema.Marker(name="more", marked_range=TR(RT(100, RATE), RT(1, RATE)),
                                        metadata={"Resolve_OTIO": {"Note": "sf extend tail 12"}}))
    c.markers.append(otio.schema.Marker(name="sf extend tail 8", marked_range=TR(RT(10, RATE), RT(0, RATE))))
    c.markers.append(otio.schema.Marker(name="sf extend head", marked_range=TR(RT(11, RATE), RT(0, RATE))))
    timeline.tracks.markers.append(otio.schema.Marker(
        name="shot 12", marked_range=TR(RT(125, RATE), RT(12, RATE)),
        metadata={"fcp_xml": {"comment": "sf generate: a red car drives along a road"}}))
    return timeline


@pytest.fixture
def marked(tmp_path) -> Path:
    media = copy_media(tmp_path / "media", CARPHONE[0])
    path = tmp_path / "storyboard.otio"
    otio.adapters.write_to_file(storyboard(media, tmp_path / "media" / "gone.mp4"), str(path))
    return path


def test_storyboard_items_are_found_in_order_and_bad_markers_named(marked):
    board = find_items(otio.adapters.read_from_file(str(marked)), fill_gaps_up_to=12)
    assert [(i.key, i.request) for i in board.items] == [
        ("fill_gap V1 55", {"operation": "fill_gap", "track": 0, "frame": 55}),  # 120-159 is 40 frames: left
        ("extend tail V1 65", {"operation": "extend", "track": 0, "frame": 65, "side": "tail", "frames": 12}),
        ("extend tail V1 160", {"operation": "extend", "track": 0, "frame": 160, "side": "tail", "frames": 8}),
        ("generate V1 125-137", {"operation": "generate", "track": 0, "range": [125, 137],
                                 "prompt": "a red car drives along a road"})]
    (problem,) = board.problems
    assert "marker 'sf extend head' on clip 'C'" in problem.where and "says no length" in problem.reason
    assert [i.key for i in find_items(otio.adapters.read_from_file(str(marked)), fill_gaps_up_to=40).items][:2] == [
        "fill_gap V1 55", "fill_gap V1 120"]
    with pytest.raises(ValueError, match="video track 3"):
        find_items(otio.adapters.read_from_file(str(marked)), tracks=[3])


def batch_process(marked: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``shotforge batch MARKED --out OUT --fill-gaps-up-to 12 --engine classical EXTRA`` (a later
    option wins) in a process of its own, without any settings file."""
    (out.parent / "none.toml").write_text("")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(out.parent / "none.toml")}
    return subprocess.Popen([sys.executable, "-m", "server.cli", "batch", str(marked), "--out", str(out),
                             "--fill-gaps-up-to", "12", "--engine", "classical", *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_result(out: Path, job: dict) -> None:
    result = otio.adapters.read_from_file(str(out / "result.otio"))
    rate = rate_of(result)
    made = {(t, i.start, i.duration, take_from_metadata(i.item.metadata).operation)
            for t, track in enumerate(result.video_tracks()) for i in track_items(track, rate)
            if i.is_clip and take_from_metadata(i.item.metadata)}
    # the generate over 125-136 was taken by B's extension on V1: it went on a new track above
    assert made == {(0, 55, 10, "fill_gap"), (0, 120, 12, "extend"), (1, 125, 12, "generate")}
    assert sorted((p["track"], p["record_frame"], p["frames"]) for p in job["placements"]) == [
        (0, 55, 10), (0, 120, 12), (1, 125, 12)]
    (failed,) = job["failed"]
    assert failed["item"] == "extend tail V1 160" and failed["code"] == "media_missing"
    assert "gone.mp4" in failed["message"] and "clip 'C'" in failed["where"]


def test_batch_command_renders_the_storyboard_and_resumes_after_a_crash(marked, tmp_path):
    out = tmp_path / "batch"
    first = batch_process(marked, out)
    deadline = time.monotonic() + 120
    while not list((out / "items").glob("*/job.json")):  # crash once the first item is done
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert not (out / "result.otio").exists()
    from server.jobs import JobStore

    store = JobStore(out / ".shotforge" / "jobs.sqlite")
    try:  # the crash came mid-batch: items were still queued or running
        assert {j.state for j in store.list(limit=100)} - {"done"}, [j.state for j in store.list(limit=100)]
    finally:
        store.close()

    again = batch_process(marked, out)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 1, stderr  # one item failed, one marker unusable: both named
    assert "FAILED marker 'sf extend tail 8' on clip 'C'" in stderr and "gone.mp4" in stderr
    assert "marker 'sf extend head' on clip 'C'" in stderr and "says no length" in stderr
    job = json.loads((out / "job.json").read_text())
    _check_result(out, job)
    store = JobStore(out / ".shotforge" / "jobs.sqlite")
    try:
        done = [j for j in store.list(limit=100) if j.state == "done"]
        assert sorted(j.source.rsplit(":", 1)[1] for j in done) == [  # each item rendered exactly once
            "extend tail V1 65", "fill_gap V1 55", "generate V1 125-137"]
    finally:
        store.close()
    rerun = batch_process(marked, out)  # a finished batch is not rendered again
    rerun.communicate(timeout=120)
    assert json.loads((out / "job.json").read_text()) == job


def test_batches_over_http(marked, tmp_path):
    with ServerProcess(tmp_path / "out") as srv, srv.client() as c:
        body = {"timeline": json.loads(marked.read_text()), "fill_gaps_up_to": 12, "engine": "classical"}
        r = c.post("/v1/batches", json=body)
        assert r.status_code == 202, r.text
        batch_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while (batch := c.get(f"/v1/batches/{batch_id}").json())["state"] != "done":
            assert time.monotonic() < deadline, batch
            time.sleep(0.2)
        assert batch["progress"] == 1.0
        assert [(i["key"], i["state"]) for i in batch["items"]] == [
            ("fill_gap V1 55", "done"), ("extend tail V1 65", "done"), ("extend tail V1 160", "failed"),
            ("generate V1 125-137", "done")]
        for item in batch["items"]:
            if item["job_id"]:
                assert wait_job(c, item["job_id"])["state"] == item["state"]
        out = Path(batch["result"]["otio"]).parent
        _check_result(out, json.loads((out / "job.json").read_text()))
        assert c.post("/v1/batches", json={**body, "tracks": [5]}).json()["error"]["code"] == "no_such_track"


# ----------------------------------------------------------------------------- interchange formats
def _cut(timeline: otio.schema.Timeline) -> list:
    """Every video item as (track, record start, frames, gap or clip): the cut, format-independent."""
    rate = rate_of(timeline)
    return [(t, i.start, i.duration, i.is_gap) for t, track in enumerate(timeline.video_tracks())
            for i in track_items(track, rate)]


def test_batch_of_an_fcp7_xml_storyboard_writes_the_result_back_as_xml(tmp_path):
    media = copy_media(tmp_path / "media", CARPHONE[0])
    timeline = storyboard(media, tmp_path / "media" / "gone.mp4")
    timeline.video_tracks()[0][2].markers[0].metadata["fcp_xml"] = {"comment": "sf extend tail 12"}  # FCP's note
    xml = tmp_path / "storyboard.xml"
    otio.adapters.write_to_file(timeline, str(xml), adapter_name="fcp_xml")
    out = tmp_path / "batch"
    done = batch_process(xml, out)
    stdout, stderr = done.communicate(timeout=300)
    assert done.returncode == 1, stderr  # C's media is missing: named
    assert f"result  {out / 'result.xml'} (Final Cut Pro 7 XML)" in stdout
    job = json.loads((out / "job.json").read_text())
    _check_result(out, job)
    back = otio.adapters.read_from_file(str(out / "result.xml"))
    assert _cut(back) == _cut(otio.adapters.read_from_file(str(out / "result.otio")))
    rate = rate_of(back)
    generated = next(i for i in track_items(back.video_tracks()[1], rate) if i.is_clip)
    assert (generated.start, generated.duration) == (125, 12)
    assert Path(generated.item.media_reference.target_url.removeprefix("file://")).is_file()


@pytest.mark.parametrize("name, rate", [
    ("premiere_example.xml", None), ("hiero_xml_export.xml", None), ("gap_test.edl", None), ("25fps.edl", "25"),
    ("avid_mc_8.6_simple.aaf", None), ("simple_cut.otio", None)])
def test_batch_reads_real_interchange_exports_and_writes_each_back_in_its_format(tmp_path, name, rate):
    source = shared(INTERCHANGE / name)
    out = tmp_path / "batch"
    run = batch_process(source, out, "--fill-gaps-up-to", "1000", *(("--rate", rate) if rate else ()))
    stdout, stderr = run.communicate(timeout=120)
    job = json.loads((out / "job.json").read_text())
    # the exports' media is not on this machine: every gap fill is refused, each named with its gap
    assert run.returncode == (1 if job["failed"] else 0), stderr
    assert all("the gap at frames" in f["where"] and f["code"] for f in job["failed"])
    original = read_any(source, Fraction(rate) if rate else None)[0]
    suffix = Path(name).suffix
    written = out / ("result.otio" if suffix == ".otio" else f"result{suffix}")
    assert written.is_file(), stdout + stderr
    back = read_any(written, Fraction(rate) if rate else None)[0]
    assert _cut(back) == _cut(original)  # nothing was made, so nothing of the cut changed


def test_batch_names_what_cannot_be_read_or_written(tmp_path):
    def run(name, *extra):
        proc = batch_process(shared(INTERCHANGE / name), tmp_path / name.replace(".", "_"), *extra)
        stderr = proc.communicate(timeout=120)[1]
        return proc.returncode, stderr, proc

    code, stderr, _ = run("kdenlive_22.11_example.kdenlive")
    assert code == 2 and "no installed OpenTimelineIO adapter reads .kdenlive files: install otio-kdenlive-adapter" \
        in stderr
    code, stderr, _ = run("fcpx_1.8_example.fcpxml")  # a library of two projects
    assert code == 2 and "holds 2 timelines ('OpenTimeline_Project', 'OpenTimeline_Project 1'): export the one " \
        "project to work on" in stderr, stderr
    code, stderr, _ = run("25fps.edl")  # read at the default 24 fps, its timecodes count past frame 23
    assert code == 2 and "cannot be read as an EDL at 24 fps (an EDL does not say its rate; give it)" in stderr
    code, stderr, _ = run("premiere_2997fps_dftc.aaf")
    assert code == 1 and "the result cannot be written as AAF (result.aaf)" in stderr, stderr
    assert (tmp_path / "premiere_2997fps_dftc_aaf" / "result.otio").is_file()


def test_a_server_restarted_mid_batch_resumes_it_without_losing_or_repeating_an_item(tmp_path):
    from tests.serverutil import BIKES

    bikes = copy_media(tmp_path / "media", BIKES[0])
    timeline = two_clip_timeline(bikes, BIKES[1], clip_frames=40, gap=100, available=250)  # a slow gap fill
    timeline.tracks.markers.append(otio.schema.Marker(name="sf generate: a dog runs",
                                                      marked_range=TR(RT(200, BIKES[1]), RT(6, BIKES[1]))))
    body = {"timeline": json.loads(otio.adapters.write_to_string(timeline, "otio_json")), "fill_gaps_up_to": 100,
            "engine": "classical"}
    out = tmp_path / "out"
    srv = ServerProcess(out).start()
    try:
        with srv.client() as c:
            batch_id = c.post("/v1/batches", json=body).json()["id"]
            deadline = time.monotonic() + 60
            while True:  # the gap fill well under way
                first = c.get(f"/v1/batches/{batch_id}").json()["items"][0]
                if first["state"] == "running" and first["progress"] > 0.1:
                    break
                assert first["state"] in ("queued", "running") and time.monotonic() < deadline, first
                time.sleep(0.05)
    finally:
        srv.kill()
    with ServerProcess(out) as again, again.client() as c:
        deadline = time.monotonic() + 120
        while (batch := c.get(f"/v1/batches/{batch_id}").json())["state"] != "done":
            assert time.monotonic() < deadline, batch
            time.sleep(0.2)
        assert [(i["key"], i["state"]) for i in batch["items"]] == [("fill_gap V1 40", "done"),
                                                                   ("generate V1 200-206", "done")]
        assert batch["items"][0]["job_id"] != first["job_id"]  # queued again: the crash interrupted it
        interrupted = c.get(f"/v1/jobs/{first['job_id']}").json()
        assert interrupted["error"]["code"] == "interrupted"
        done = [j for j in c.get("/v1/jobs").json()["jobs"] if j["state"] == "done"]
        assert len(done) == 2  # each item made once
        assert sorted((p["track"], p["record_frame"], p["frames"]) for p in batch["result"]["placements"]) == [
            (0, 40, 100), (0, 200, 6)]


def test_another_batch_into_the_folder_of_a_finished_one_leaves_its_items_media(marked, tmp_path):
    """Other options into the same --out make a new batch; items with the same keys must not be
    rendered over (or, failing, removed from) the folders the first result.otio names."""
    out = tmp_path / "batch"
    first = batch_process(marked, out)
    first.communicate(timeout=300)
    first_job = json.loads((out / "job.json").read_text())
    first_media = sorted(p["media"] for p in first_job["placements"])
    before = {m: Path(m).read_bytes() for m in first_media}

    second = batch_process(marked, out, "--fill-gaps-up-to", "11")  # the same items, another batch
    _, stderr = second.communicate(timeout=300)
    assert second.returncode == 1, stderr
    second_media = sorted(p["media"] for p in json.loads((out / "job.json").read_text())["placements"])
    assert len(second_media) == 3 and not set(second_media) & set(first_media)
    assert {m: Path(m).read_bytes() for m in first_media} == before


def test_a_batch_with_more_items_than_the_queue_holds_queues_every_item(marked, tmp_path):
    """The queue bound refuses a busy server's new requests; a batch already accepted is one request:
    its items past the bound must be queued, not failed with queue_full."""
    from server.batch import Batches
    from server.jobs import JobManager, JobStore, QueueFull
    from server.paths import MediaPolicy

    store = JobStore(tmp_path / "jobs.sqlite")
    manager = JobManager(store, tmp_path / "out", locate_media=MediaPolicy(()).locate, workers=0, max_queue=2)
    try:
        batch = Batches(manager).create(otio.adapters.read_from_file(str(marked)), fill_gaps_up_to=12,
                                        engine="classical")
        assert [(i["key"], (i["error"] or {}).get("code")) for i in batch.items] == [
            ("fill_gap V1 55", None), ("extend tail V1 65", None), ("extend tail V1 160", "media_missing"),
            ("generate V1 125-137", None)]
        assert store.count("queued") == 3
        with pytest.raises(QueueFull):  # a new batch onto a full queue: refused, nothing recorded
            Batches(manager).create(otio.adapters.read_from_file(str(marked)), fill_gaps_up_to=12)
        assert [b.id for b in Batches(manager).unfinished()] == [batch.id] and store.count("queued") == 3
    finally:
        store.close()


def test_a_batch_that_finishes_while_its_resume_is_still_saving_stays_done(marked, tmp_path):
    """The last item can finish (and the batch with it) before resume has returned; resume must not
    then write its stale copy (state running, no result) back over the finished batch."""
    from server.batch import Batches
    from server.jobs import JobManager, JobStore
    from server.paths import MediaPolicy
    from server.retention import Retention

    store = JobStore(tmp_path / "jobs.sqlite")
    manager = JobManager(store, tmp_path / "out", locate_media=MediaPolicy(()).locate, workers=1)
    batches = Batches(manager)
    Retention(manager, keep_days=1e-9, keep_bytes=None, prune_outputs=False).attach()  # done items' records go
    caller, waited = threading.current_thread(), []

    def hold(write):  # the resume's writes: once every item is queued, the batch finishes before it goes on
        def written(batch):
            write(batch)
            if threading.current_thread() is caller and all(i["job_id"] or i["error"] for i in batch.items) \
                    and not waited:
                waited.append(True)
                deadline = time.monotonic() + 60
                while batches.get(batch.id).state != "done":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        return written

    for name in ("_save", "_save_items"):
        setattr(batches, name, hold(getattr(batches, name)))
    manager.start()
    try:
        batch = batches.create(otio.adapters.read_from_file(str(marked)), fill_gaps_up_to=12, engine="classical")
        assert waited and batch.state == "done" and batch.result is not None
        assert len(batch.result["placements"]) == 3
    finally:
        manager.stop()
        store.close()
