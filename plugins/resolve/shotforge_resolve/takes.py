"""Takes: every placed result, per timeline, so it can be removed or re-rendered into the same slot.

The store is one JSON file in ShotForge's config folder (``takes.json``, written atomically),
``{"version": 1, "timelines": {timeline id: [result, ...]}}``, the newest result last. A result:

``{job, operation, slot, take, request, meta, placed, audio, tracks_added, audio_tracks_added,
recipe, history}``: ``request`` the path of the exact request sent (kept under ``takes/``, so a
new take re-renders the same request), ``meta`` its ``metadata.shotforge``, ``placed`` the items
put on the timeline (``{id, track, start, duration, left_offset, media, piece, server_track}``:
track 1-based, frames absolute, ``piece`` the index of the job's placement it came from),
``audio`` the same for the result's sound on audio tracks (``server_track``: the 1-based audio
track the server chose), ``tracks_added`` / ``audio_tracks_added`` the video / audio tracks the
result added, ``recipe`` ``{engine, model, prompt, seed}``, ``history`` the earlier takes of the
slot (``{take, job, recipe, media}``).

``plan_result`` / ``record_result`` (a job's result: steps to place it, then its record) and
``plan_remove`` are the whole of the take logic, shared by ``workflow`` and the Lua entry's
bridge: facts, job records and the store in, steps and records out.
"""

import json
import os
import random

from . import settings as settings_mod
from .atomic import write_json
from .context import MAX_SEED, check_seed
from .errors import ContextError, PlacementError
from .place import (AUDIO_TRACK_TYPE, MARKER_PREFIX, Facts, check_placements, check_step, delete_step, plan_steps,
                    take_name)

STORE_NAME = "takes.json"


def store_path():
    return os.path.join(settings_mod.config_dir(), STORE_NAME)


def load(path=None):
    """The store; a missing file is an empty store, a damaged one an error (never overwritten)."""
    path = path or store_path()
    if not os.path.isfile(path):
        return {"version": 1, "timelines": {}}
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ContextError("The takes file {} cannot be read ({}): move it away to start a new one.".format(path, exc))
    if not isinstance(data, dict) or not isinstance(data.get("timelines"), dict):
        raise ContextError("The takes file {} is not a ShotForge takes file: move it away.".format(path))
    return data


def save(data, path=None):
    return write_json(path or store_path(), data, indent=1, sort_keys=True)


def results(timeline_id, path=None):
    return list(load(path)["timelines"].get(timeline_id) or [])


def last_result(timeline_id, path=None):
    stack = results(timeline_id, path)
    return stack[-1] if stack else None


def push(timeline_id, record, path=None):
    data = load(path)
    data["timelines"].setdefault(timeline_id, []).append(record)
    save(data, path)


def replace_job(timeline_id, job_id, record, path=None):
    """Put ``record`` in place of the result of job ``job_id`` (a new take of its slot); appended
    when that result is no longer in the store."""
    data = load(path)
    stack = data["timelines"].setdefault(timeline_id, [])
    for index, old in enumerate(stack):
        if old.get("job") == job_id:
            stack[index] = record
            break
    else:
        stack.append(record)
    save(data, path)


def find_result(timeline_id, job_id, path=None):
    """The store's record of job ``job_id``'s result on this timeline, or None."""
    for record in results(timeline_id, path):
        if record.get("job") == job_id:
            return record
    return None


def pop_last(timeline_id, path=None):
    data = load(path)
    stack = data["timelines"].get(timeline_id) or []
    record = stack.pop() if stack else None
    save(data, path)
    return record


def slot_of(operation, placements):
    """Where a result belongs, as the server placed it: operation, track, record range."""
    first = min(p["record_frame"] for p in placements)
    last = max(p["record_frame"] + p["frames"] for p in placements)
    return "{}@{}:{}-{}".format(operation, min(p["track"] for p in placements), first, last)


def next_take(timeline_id, slot, path=None):
    """1 + the highest take of ``slot`` on this timeline (1 for a first result)."""
    return 1 + max([int(r.get("take") or 0) for r in results(timeline_id, path) if r.get("slot") == slot] or [0])


def keep_request(data, job_id):
    """Keep the exact request a job was made from, so a new take re-renders the same request."""
    folder = os.path.join(settings_mod.config_dir(), "takes")
    path = os.path.join(folder, "{}.otio".format("".join(c for c in str(job_id) if c.isalnum() or c in "-_")))
    return write_json(path, data)


def render_words(job_record):
    """Where a finished job's render is, for a message that places nothing."""
    media = (job_record.get("result") or {}).get("media") or []
    return "the render is kept at {}".format(", ".join(media)) if media else \
        "nothing new was rendered: the result uses the clip's own media"


def take_info(job_record, meta, take_number):
    """What a take's label says: ``{job, take, operation, engine, model, prompt, seed}``."""
    result = job_record.get("result") or {}
    return {"job": job_record.get("id"), "take": int(take_number), "operation": meta.get("operation"),
            "engine": result.get("engine") or meta.get("engine"), "model": result.get("model") or "",
            "prompt": meta.get("prompt") or "", "seed": meta.get("seed")}


def make_record(job_record, meta, request_path, steps, executed, take_number, slot, tracks_added=None,
                history=None):
    """The store's record of a result just placed (``steps`` as planned, ``executed`` as carried out;
    ``tracks_added`` ``{video, audio}``: tracks an earlier take of the slot added, which stay its)."""
    def pieces(role, key):
        steps_of = [step for step in steps if step.get("op") == "append" and step.get("role") == role]
        return [dict(item, piece=step.get("piece"), server_track=step.get("server_track"))
                for step, item in zip(steps_of, executed.get(key) or [])]

    added = tracks_added or {}
    info = take_info(job_record, meta, take_number)
    return {"job": job_record.get("id"), "operation": meta.get("operation"), "slot": slot, "take": int(take_number),
            "request": request_path, "meta": meta, "placed": pieces("result", "placed"),
            "audio": pieces("audio", "audio"),
            "tracks_added": list(added.get("video") or []) + list(executed.get("tracks_added") or []),
            "audio_tracks_added": list(added.get("audio") or []) + list(executed.get("audio_tracks_added") or []),
            "recipe": dict((key, info[key]) for key in ("engine", "model", "prompt", "seed")),
            "history": list(history or [])}


def follow_ids(timeline_id, restored, path=None):
    """Rewrite the ids of this timeline's takes after an undo put clips back under new ids
    (``restored``: old id -> new id, from the executor's failure)."""
    if not restored:
        return
    data = load(path)
    changed = False
    for record in data["timelines"].get(timeline_id) or []:
        for piece in (record.get("placed") or []) + (record.get("audio") or []):
            if piece.get("id") in restored:
                piece["id"] = restored[piece["id"]]
                changed = True
    if changed:
        save(data, path)


def check_still_newest(timeline_id, record, path=None):
    """The store's newest result on the timeline, when it is still ``record``'s take (a new take
    replaces only the newest result); PlacementError otherwise, before anything is placed."""
    newest = last_result(timeline_id, path)
    if newest is None or newest.get("job") != record.get("job"):
        raise PlacementError("The take this job re-renders is no longer the newest ShotForge result on this "
                             "timeline: nothing was placed.")
    return newest


def take_markers(item):
    """The recipes ({job, take, ...}) of the ShotForge markers the item facts ``item`` carry."""
    for marker in (item.get("markers") or {}).values():
        data = (marker or {}).get("customData") or ""
        if not data.startswith(MARKER_PREFIX):
            continue
        try:
            recipe = json.loads(data[len(MARKER_PREFIX):])
        except ValueError:
            continue
        if isinstance(recipe, dict):
            yield recipe


def _carries_take(item, record):
    """Whether the item facts ``item`` carry ``record``'s take marker (same job and take)."""
    return any(recipe.get("job") == record.get("job") and str(recipe.get("take")) == str(record.get("take"))
               for recipe in take_markers(item))


def find_piece(view, record, piece, kind="video"):
    """The item facts of a placed piece: by id, else (an undo put it back from its media under a
    new id) the item at the same track, record frame and duration carrying the take's marker
    (sound carries none: it is found by id only)."""
    item = view.find(piece["id"])
    if item is not None:
        return item
    if kind == "audio":
        return None
    for candidate in view.track_items(piece["track"]):
        if (int(candidate["start"]), int(candidate["end"]) - int(candidate["start"])) == (
                piece["start"], piece["duration"]) and _carries_take(candidate, record):
            return candidate
    return None


def still_placed(facts, record):
    """The items of ``record`` still where the result put them (same track, start, duration; found
    by id or by the take's marker), and a note for each one that is gone or was moved or trimmed."""
    view = facts if isinstance(facts, Facts) else Facts(facts)
    notes, present = [], []
    for kind, pieces in (("video", record.get("placed") or []), ("audio", record.get("audio") or [])):
        what = "sound" if kind == "audio" else "clip"
        for piece in pieces:
            item = find_piece(view, record, piece, kind)
            where = "{}{} at {}".format("A" if kind == "audio" else "V", piece["track"], view.at(piece["start"]))
            if item is None:
                notes.append("The take's {} at {} is no longer on the timeline: nothing to remove there.".format(
                    what, where))
            elif ((item.get("track_type") or "video"), item["track"], int(item["start"]),
                  int(item["end"]) - int(item["start"])) != (kind, piece["track"], piece["start"], piece["duration"]):
                notes.append("The take's {} placed at {} was moved or trimmed since ({}): it is left as it is.".format(
                    what, where, view.clip_words(item)))
            else:
                present.append(item)
    return present, notes


def plan_remove(facts, record):
    """Steps that take ``record``'s result off the timeline, and notes for what is not there as placed.

    Only items still where the result put them are removed (``still_placed``); a track the result
    added goes too when it is then empty and on top (Resolve adds and deletes video tracks at the
    top only)."""
    view = facts if isinstance(facts, Facts) else Facts(facts)
    steps = [check_step(view)]
    present, notes = still_placed(view, record)
    if present:
        steps.append(delete_step(view, present, "remove {}".format(", ".join(view.clip_words(i) for i in present))))
    gone = set(item["id"] for item in present)
    for kind, count, added in (("video", view.count, record.get("tracks_added")),
                               ("audio", view.audio_tracks, record.get("audio_tracks_added"))):
        letter = "A" if kind == "audio" else "V"
        for index in sorted(set(added or []), reverse=True):
            others = [item for item in view.track_items(index, kind) if item["id"] not in gone]
            if index != count or others:
                notes.append("{}{} stays: {}.".format(letter, index, "it holds other clips" if others else
                                                      "it is not on top"))
                break
            step = {"op": "delete_track", "index": index, "what": "delete the empty track {}{}".format(letter, index)}
            if kind == "audio":
                step.update(track_type="audio", sub_type=AUDIO_TRACK_TYPE)
            steps.append(step)
            count -= 1
    return steps, notes


def removed_words(record, executed):
    """What Remove last result did, in words, from the take's ``record`` and what ``execute`` did:
    for example Removed 'ShotForge extend take 1': 1 clip, its sound on A2 and the track it added (A2)."""
    clips = [c for c in executed["removed"] if c.get("track_type") != "audio"]
    sounds = ["A{}".format(c["track"]) for c in executed["removed"] if c.get("track_type") == "audio"]
    tracks = ["V{}".format(t) for t in executed["tracks_deleted"]] + [
        "A{}".format(t) for t in executed["audio_tracks_deleted"]]
    parts = ["{} clip{}".format(len(clips), "" if len(clips) == 1 else "s")]
    if sounds:
        parts.append("its sound on {}".format(", ".join(sounds)))
    if tracks:
        parts.append("the track{} it added ({})".format("s" if len(tracks) > 1 else "", ", ".join(tracks)))
    return "Removed '{}': {}.".format(take_name(record.get("operation"), record.get("take")),
                                      parts[0] if len(parts) == 1 else "{} and {}".format(", ".join(parts[:-1]),
                                                                                           parts[-1]))


def new_request(record, seed=None, prompt=None):
    """The stored request of ``record`` with a new seed (``None``: a fresh random one) and,
    when given, a new prompt. Returns (request dict, its metadata.shotforge)."""
    path = record.get("request") or ""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ContextError("The request of take {} ({}) cannot be read ({}): run the operation again instead.".format(
            record.get("take"), path, exc))
    meta = dict((data.get("metadata") or {}).get("shotforge") or record.get("meta") or {})
    if seed is None or str(seed).strip() == "":
        seed = random.SystemRandom().randint(0, MAX_SEED)
    meta["seed"] = check_seed(seed)
    if prompt is not None:
        meta["prompt"] = str(prompt)
    data.setdefault("metadata", {})["shotforge"] = meta
    return data, meta


def on_tracks_of(record, placements):
    """The new job's placements moved onto the video and audio tracks the previous take of the slot used."""
    tracks = dict((piece.get("server_track"), piece["track"]) for piece in record.get("placed") or [])
    sounds = dict((piece.get("server_track"), piece["track"]) for piece in record.get("audio") or [])
    moved = []
    for placement in placements:
        placement = dict(placement)
        track = tracks.get(int(placement.get("track", -1)) + 1)
        if track:
            placement["track"] = track - 1
        if placement.get("audio_track") is not None:
            sound = sounds.get(int(placement["audio_track"]) + 1)
            if sound:
                placement["audio_track"] = sound - 1
        moved.append(placement)
    return moved


def new_take_placements(facts, record, placements):
    """The new job's placements on the previous take's tracks (``on_tracks_of``), the ids of the
    previous take's items to replace in the same steps, and notes (``still_placed``)."""
    present, notes = still_placed(facts, record)
    return on_tracks_of(record, placements), [item["id"] for item in present], notes


def plan_result(facts, job_record, meta, options, previous=None, path=None, beside=None):
    """Steps that place a finished job's result (``place.plan_steps``), and what ``record_result``
    needs afterwards (JSON data). ``previous``: the store's record of the take this job replaces
    (a new take: same slot, previous take removed in the same steps, the slot's next take number).
    ``beside``: the store's record of a take this job is a new take of, left where it is (conform's
    "place beside": placement ``auto`` from that take's track, so a free track above it).
    ``options``: ``placement`` and ``confirm_overwrite`` (the question answered) as for ``plan_steps``."""
    view = facts if isinstance(facts, Facts) else Facts(facts)
    placements = check_placements((job_record.get("result") or {}).get("placements"))
    plan_options = {"placement": (options or {}).get("placement") or meta.get("placement") or "auto",
                    "confirm_overwrite": (options or {}).get("confirm_overwrite")}
    pending = {"notes": [], "history": [], "tracks_added": {}}
    if previous is not None:
        placements, plan_options["replace"], pending["notes"] = new_take_placements(view, previous, placements)
        plan_options["placement"] = "auto"  # the slot is freed in the same steps
        take = max(int(previous["take"]) + 1, next_take(view.id, previous["slot"], path))
        pending.update(slot=previous["slot"], take=take, replaces=previous.get("job"),
                       tracks_added={"video": list(previous.get("tracks_added") or []),
                                     "audio": list(previous.get("audio_tracks_added") or [])},
                       history=list(previous.get("history") or []) + [
                           {"take": previous["take"], "job": previous.get("job"), "recipe": previous.get("recipe"),
                            "media": sorted(set(piece["media"] for piece in previous.get("placed") or []))}])
    elif beside is not None:
        placements = on_tracks_of(beside, placements)
        plan_options["placement"] = "auto"  # the take's own track is taken: a free one above it
        pending["slot"] = beside["slot"]
        pending["take"] = next_take(view.id, beside["slot"], path)
    else:
        pending["slot"] = slot_of(meta["operation"], placements)
        pending["take"] = next_take(view.id, pending["slot"], path)
    steps = plan_steps(view, placements, plan_options, take_info(job_record, meta, pending["take"]))
    # the server's word on the result (frames under a dissolve its media could not cover) comes first
    pending["notes"] = [str(note) for note in (job_record.get("result") or {}).get("notes") or []] + pending["notes"]
    return steps, pending


def record_result(timeline_id, job_record, meta, request_path, steps, executed, pending, path=None):
    """Store the result ``execute`` placed (a new take replaces the record it re-renders). Returns the record."""
    record = make_record(job_record, meta, request_path, steps, executed, pending["take"], pending["slot"],
                         tracks_added=pending.get("tracks_added"), history=pending.get("history"))
    if pending.get("replaces") is not None:
        replace_job(timeline_id, pending["replaces"], record, path)
    else:
        push(timeline_id, record, path)
    return record
