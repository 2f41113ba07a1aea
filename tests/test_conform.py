"""``shotforge conform``: a timeline rendered with the classical engine (a gap fill and two generate
placeholders), exported as result.otio, conformed with a tiny diffusers model (tests/tiny_wan.py):
every new take lands in its exact slot, and one take that cannot be made again is named while the
rest are done."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.conform import find_takes, select
from otio_tools.media import path_from_url
from otio_tools.request import parse_request_json
from otio_tools.takes import take_from_metadata
from otio_tools.timeline import rate_of, track_items
from server import media_io
from server.conform import read_tags
from server.render import plan_job, run_job
from tests.serverutil import CARPHONE, REPO, copy_media, request_json, two_clip_timeline

pytest.importorskip("torch", reason="conform with a model needs torch: scripts/setup.sh --diffusers")
pytest.importorskip("diffusers", reason="conform with a model needs diffusers: pip install -e '.[diffusers]'")

from tests.tiny_wan import OFFLINE_ENV, save_tiny_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_tiny_pipeline(root / "tiny-vace")
    return root


def _render(timeline: otio.schema.Timeline, out: Path, **shotforge) -> otio.schema.Timeline:
    timeline_, request = parse_request_json(request_json(timeline, **shotforge))
    outcome = run_job(plan_job(timeline_, request), out)
    return otio.adapters.read_from_file(outcome.otio)


def build_exported(root: Path) -> tuple[Path, Path]:
    """V1: A (a.mp4) | gap 55-64 | B (b.mp4), V2 empty; rendered on the classical engine: the gap
    filled, a placeholder on V1 at 130-141 and one on V2 at 20-29 in another size. Returns the
    exported timeline (the last result.otio) and b.mp4."""
    media = root / "media"
    a = copy_media(media, CARPHONE[0]).rename(media / "a.mp4")
    b = media / "b.mp4"
    shutil.copyfile(a, b)
    timeline = two_clip_timeline(a, CARPHONE[1], clip_frames=55, gap=10)
    timeline.name = "reel 1"
    timeline.video_tracks()[0].find_clips()[1].media_reference.target_url = b.as_uri()
    timeline.tracks.append(otio.schema.Track(name="V2"))
    timeline = _render(timeline, root / "r1", operation="fill_gap", track=0, frame=60)
    timeline = _render(timeline, root / "r2", operation="generate", track=0, range=[130, 142], prompt="dusk")
    timeline = _render(timeline, root / "r3", operation="generate", track=1, range=[20, 30], canvas=[96, 64],
                       prompt="a red car drives along a road", seed=3)
    return root / "r3" / "result.otio", b


@pytest.fixture
def exported(tmp_path) -> tuple[Path, Path]:
    return build_exported(tmp_path)


def _conform(timeline: Path, out: Path, models: Path, *extra: str) -> subprocess.CompletedProcess:
    (out.parent / "none.toml").write_text("")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(out.parent / "none.toml")}
    return subprocess.run([sys.executable, "-m", "server.cli", "conform", str(timeline), "--out", str(out),
                           "--engine", "diffusers", "--model", "tiny-vace", "--models", str(models), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _slots(timeline: otio.schema.Timeline) -> dict:
    """(track, record frame) -> (frames, item name or 'gap') for every item: the whole cut."""
    rate = rate_of(timeline)
    return {(t, i.start): (i.duration, "gap" if i.is_gap else i.item.name)
            for t, track in enumerate(timeline.video_tracks()) for i in track_items(track, rate)}


def test_conform_lands_every_take_in_its_exact_slot(exported, tmp_path, models):
    path, _ = exported
    before = otio.adapters.read_from_file(path)
    found, unreadable = find_takes(before, read_tags)
    assert not unreadable
    assert sorted((c.track, c.record_frame, c.frames, c.take.placeholder) for c in found) == [
        (0, 55, 10, False), (0, 130, 12, True), (1, 20, 10, True)]

    out = tmp_path / "conformed"
    done = _conform(path, out, models, "--include-classical")
    assert done.returncode == 0, done.stderr
    assert "conform result.otio" in done.stderr and "100%" in done.stderr  # one bar over the whole conform
    after = otio.adapters.read_from_file(out / "result.otio")
    job = json.loads((out / "job.json").read_text())
    assert job["failed"] == [] and len(job["placements"]) == 3
    # placeholders first, then the classical gap fill
    assert [(p["track"], p["record_frame"]) for p in job["placements"]] == [(0, 130), (1, 20), (0, 55)]

    old_slots, new_slots = _slots(before), _slots(after)
    assert set(old_slots) == set(new_slots)  # every item where it was, as long as it was
    assert all(old_slots[k][0] == new_slots[k][0] for k in old_slots)
    rate = rate_of(after)
    for old in found:
        track = after.video_tracks()[old.track]
        (item,) = [i for i in track_items(track, rate) if i.start == old.record_frame]
        new = take_from_metadata(item.item.metadata)
        assert (new.engine, new.model, new.placeholder) == ("diffusers", "tiny-vace", False)
        assert new.model_revision.startswith("sha256:") and new.id != old.take.id
        assert new.slot == old.take.slot and item.duration == old.frames
        media = path_from_url(item.item.media_reference.target_url)
        info = media_io.probe(media)
        assert (info.width, info.height, info.rate, info.frames) == (
            old.take.slot.width, old.take.slot.height, old.take.slot.rate, old.take.slot.frames)
        placement = next(p for p in job["placements"] if (p["track"], p["record_frame"]) == (old.track,
                                                                                            old.record_frame))
        assert placement == {"media": media, "track": old.track, "record_frame": old.record_frame, "source_in": 0,
                             "frames": old.frames}
    assert (after.video_tracks()[1].find_clips()[0].media_reference.target_url !=
            before.video_tracks()[1].find_clips()[0].media_reference.target_url)


def test_a_take_that_cannot_be_made_again_is_named_and_the_rest_are_done(exported, tmp_path, models):
    path, b = exported
    before = otio.adapters.read_from_file(path)
    b.unlink()  # the gap fill's recipe needs clip B's media
    v2 = before.video_tracks()[1].find_clips()[0]
    Path(path_from_url(v2.media_reference.target_url)).unlink()  # found through its clip metadata
    out = tmp_path / "conformed"
    done = _conform(path, out, models, "--include-classical")
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("FAILED clip 'A to B (ShotForge fill gap)' on video track 0 (V1) at record frame 55: its recipe cannot "
            "be made again:") in done.stderr and str(b) in done.stderr
    job = json.loads((out / "job.json").read_text())
    (failed,) = job["failed"]
    assert (failed["clip"], failed["track"], failed["record_frame"], failed["code"]) == (
        "A to B (ShotForge fill gap)", 0, 55, "media_missing")
    assert sorted((p["track"], p["record_frame"]) for p in job["placements"]) == [(0, 130), (1, 20)]
    after = otio.adapters.read_from_file(out / "result.otio")
    rate = rate_of(after)
    kept = next(i for i in track_items(after.video_tracks()[0], rate) if i.start == 55)
    assert take_from_metadata(kept.item.metadata).engine == "classical"  # left exactly as it was
    assert {k: v[0] for k, v in _slots(after).items()} == {k: v[0] for k, v in _slots(before).items()}
    assert not list((out / "takes").glob("*fill*"))


def test_only_placeholders_unless_classical_results_are_asked_for(exported):
    path, _ = exported
    found, _ = find_takes(otio.adapters.read_from_file(path), read_tags)
    chosen, left = select(found, include_classical=False)
    assert [(c.track, c.record_frame) for c in chosen] == [(0, 130), (1, 20)]
    assert [(c.track, c.record_frame, c.take.operation) for c in left] == [(0, 55, "fill_gap")]
    # clip metadata gone (an interchange export): the media tags still say which clips are takes
    bare = otio.adapters.read_from_file(path)
    for clip in bare.find_clips():
        clip.metadata.pop("shotforge", None)
    from_tags, _ = find_takes(bare, read_tags)
    assert [(c.track, c.record_frame, c.take.id) for c in from_tags] == [(c.track, c.record_frame, c.take.id)
                                                                         for c in found]


def test_conform_of_an_fcp7_xml_export_finds_takes_by_their_media_and_writes_xml(exported, tmp_path, models):
    path, _ = exported
    xml = tmp_path / "exported.xml"  # FCP7 XML keeps no clip metadata: only the media tags say what is a take
    otio.adapters.write_to_file(otio.adapters.read_from_file(path), str(xml), adapter_name="fcp_xml")
    out = tmp_path / "conformed"
    done = _conform(xml, out, models)
    assert done.returncode == 0, done.stderr
    assert f"result  {out / 'result.xml'} (Final Cut Pro 7 XML)" in done.stdout
    assert "left    A to B (ShotForge fill gap) on V1 at record frame 55: made by the classical engine" in done.stdout
    before = otio.adapters.read_from_file(str(xml))
    back = otio.adapters.read_from_file(str(out / "result.xml"))
    assert {k: v[0] for k, v in _slots(back).items()} == {k: v[0] for k, v in _slots(before).items()}
    found, _ = find_takes(back, read_tags)
    made = {(c.track, c.record_frame, c.frames): (c.take.engine, c.take.placeholder) for c in found}
    assert made == {(0, 55, 10): ("classical", False), (0, 130, 12): ("diffusers", False),
                    (1, 20, 10): ("diffusers", False)}


def test_conform_on_another_machine_maps_the_editors_paths_both_ways(tmp_path, models):
    real = tmp_path / "gpu"
    real.mkdir()
    laptop = tmp_path / "laptop"  # the editor's machine: the same files under another path
    laptop.symlink_to(real, target_is_directory=True)
    build_exported(laptop)
    laptop.unlink()  # ...which does not exist on this machine
    out = real / "conformed"
    done = _conform(real / "r3" / "result.otio", out, models, "--include-classical", "--path-map", f"{laptop}={real}")
    assert done.returncode == 0, done.stderr
    job = json.loads((out / "job.json").read_text())
    assert len(job["placements"]) == 3
    assert all(p["media"].startswith(str(laptop / "conformed" / "takes")) for p in job["placements"]), job
    after = otio.adapters.read_from_file(out / "result.otio")
    urls = {c.media_reference.target_url for c in after.find_clips() if take_from_metadata(c.metadata)}
    assert {url.startswith((laptop / "conformed").as_uri()) for url in urls} == {True}


def test_a_conform_stopped_in_the_folder_of_an_earlier_one_leaves_the_earlier_takes(exported, tmp_path):
    """Conform again into the same --out, stopped (Ctrl-C) after its first take: what it removes is
    only what it made; the earlier conform's result.otio still finds every take it names."""
    from server.conform import conform

    path, _ = exported
    out = tmp_path / "conformed"
    first = conform(path, out, engine="classical")
    named = [path_from_url(c.media_reference.target_url)
             for c in otio.adapters.read_from_file(first.otio).find_clips()
             if (c.metadata.get("shotforge") or {}).get("take")]
    assert len(first.takes) == 2 and all(t["media"] in named for t in first.takes)
    before = {m: Path(m).read_bytes() for m in named}

    def stop_after_the_first(fraction: float, stage: str) -> None:
        if stage.startswith("1/") and stage.endswith(": done"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        conform(path, out, engine="classical", on_progress=stop_after_the_first)
    assert all(Path(m).is_file() for m in named)
    assert {m: Path(m).read_bytes() for m in named} == before
