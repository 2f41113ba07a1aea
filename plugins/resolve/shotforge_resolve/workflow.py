"""ShotForge runs without any UI, for the dialog, automation and tests (the public entry points):

* ``run(resolve, options, ...)``: one operation end to end: read the facts, prepare the request,
  export the timeline as OTIO with the request in its metadata, send it, follow the job, read the
  facts again, plan where the result goes (``place.plan_steps``), carry it out (``executor.execute``,
  everything read back, all undone on a mismatch) and record the take (``takes``).
* ``remove_last(resolve, options)``: take the newest result off the timeline, as it was before.
* ``new_take(resolve, options, seed=None, prompt=None, ...)``: re-render the newest result's exact
  request with a new seed and/or prompt and swap it into the same slot as take N+1.
* ``conform(resolve, options, ...)``: re-render every ShotForge placeholder on the timeline with
  the dialog's engine and model, and place each new take beside its placeholder or swap it in.

Each raises a ShotForgeError subclass (ContextError, ServerDownError, ServerError, JobFailed,
JobCanceled, PlacementError, OverwriteNeedsConfirmation) whose message is what the editor reads.
"""

import os
import time

from . import conform as conform_mod
from . import settings as settings_mod
from . import takes as takes_mod
from .client import Client, check_finished, wait_for_job
from .context import add_request_metadata, prepare, target_changes, target_state
from .errors import ContextError, JobCanceled, PlacementError, ShotForgeError
from .facts import current_timeline, has_call, read_facts
from .executor import execute
from .place import Facts, take_name


def _timeline_id(facts):
    timeline = (facts or {}).get("timeline") or {}
    if not timeline:
        raise ContextError("No timeline is open: open the timeline to work on in the Edit page.")
    return timeline.get("id") or ""


def _current_timeline(resolve):
    timeline = current_timeline(resolve)[1]
    if not timeline:
        raise ContextError("No timeline is open: open the timeline to work on in the Edit page.")
    return timeline


def export_timeline(resolve, meta, folder):
    """Export the current timeline with Resolve's OTIO exporter, with ``meta`` written into its
    ``metadata.shotforge``. Returns (path, the request as a dict). Nothing on the timeline changes."""
    if not os.path.isdir(folder):
        os.makedirs(folder)
    path = os.path.join(folder, "shotforge_request.otio")
    if os.path.exists(path):
        os.remove(path)
    if not has_call(resolve, "EXPORT_OTIO"):  # getattr is never None on Resolve objects
        raise ShotForgeError("This Resolve has no OTIO export (resolve.EXPORT_OTIO): ShotForge "
                             "needs DaVinci Resolve 18.5 or later.", code="no_otio_export")
    timeline = _current_timeline(resolve)
    if not timeline.Export(path, resolve.EXPORT_OTIO) or not os.path.isfile(path):
        raise ShotForgeError("Resolve could not export the timeline '{}' as OTIO to {}.".format(
            timeline.GetName(), path), code="export_failed")
    return add_request_metadata(path, meta)


class Run(object):
    """The steps of one run, each callable on its own (the dialog polls between them)."""

    def __init__(self, resolve, options, client=None, workdir=None):
        self.resolve = resolve
        self.options = dict(settings_mod.DEFAULTS)
        self.options.update(options or {})
        self.client = client or Client(self.options.get("server_url"), self.options.get("token") or None)
        self.workdir = workdir or os.path.join(settings_mod.config_dir(), "requests")
        self.facts = None
        self.meta = None
        self.description = None
        self.request_path = None
        self.request = None
        self.job_id = None
        self.timeline_id = None
        self.target = None      # what the request was made on (context.target_state), checked before placing
        self.replacing = None   # new take: the store's record of the take it replaces

    def read_context(self):
        """Check the timeline fits the operation; raises ContextError with the reason."""
        self.facts = read_facts(self.resolve)
        self.timeline_id = _timeline_id(self.facts)
        self.description, self.meta, target = prepare(self.facts, self.options)
        self.target = target_state(target)
        return self.description

    def ensure_server(self):
        log = os.path.join(settings_mod.config_dir(), "server.log")
        shotforge = self.options.get("shotforge_path") or None
        if shotforge and not os.path.isdir(os.path.dirname(log)):
            os.makedirs(os.path.dirname(log))
        return self.client.ensure_running(shotforge, log_path=log if shotforge else None)

    def submit(self):
        """Export the timeline as OTIO with the request in its metadata and POST it (a new take
        sends its stored request instead)."""
        if self.request is None:
            self.request_path, self.request = export_timeline(self.resolve, self.meta, self.workdir)
        self.job_id = self.client.submit(self.request)
        self.request_path = takes_mod.keep_request(self.request, self.job_id)
        return self.job_id

    def finish(self, record, confirm_overwrite=None):
        """Place a finished job's result and record the take; raises for a failed or canceled job
        (timeline untouched) and OverwriteNeedsConfirmation for an overwrite not confirmed yet."""
        record = check_finished(record)
        facts = read_facts(self.resolve)
        if _timeline_id(facts) != self.timeline_id:
            raise PlacementError("The current timeline changed while the job ran: nothing was placed. Switch "
                                 "back to '{}' and run ShotForge again ({}).".format(
                                     self.facts["timeline"].get("name"), takes_mod.render_words(record)))
        changed = target_changes(facts, self.target) if self.target else None
        if changed:
            raise PlacementError("The timeline changed while the job ran ({}): nothing was placed. Run ShotForge "
                                 "again on the timeline as it is now ({}).".format(
                                     changed, takes_mod.render_words(record)))
        if self.replacing is not None:
            self.replacing = takes_mod.check_still_newest(self.timeline_id, self.replacing)
        confirm = self.options.get("confirm_overwrite") if confirm_overwrite is None else confirm_overwrite
        steps, pending = takes_mod.plan_result(facts, record, self.meta, {
            "placement": self.meta.get("placement") or "auto", "confirm_overwrite": confirm},
            previous=self.replacing)
        done = _execute(self.resolve, steps, self.timeline_id)
        takes_mod.record_result(self.timeline_id, record, self.meta, self.request_path, steps, done, pending)
        number = pending["take"]
        notes = pending["notes"]
        view = Facts(facts)
        placed, audio = ([dict(item, end=item["start"] + item["duration"], timecode=view.at(item["start"]))
                          for item in done[key]] for key in ("placed", "audio"))
        return {"placed": placed, "audio": audio, "take": number, "name": take_name(self.meta["operation"], number),
                "removed": done["removed"], "notes": notes + done["notes"], "steps": steps}


def _execute(resolve, steps, timeline_id):
    """``executor.execute``; when it fails after putting clips back under new ids, the take store
    follows them, so those takes can still be removed or re-rendered."""
    try:
        return execute(resolve, steps)
    except PlacementError as exc:
        takes_mod.follow_ids(timeline_id, exc.restored)
        raise


def _follow(job, on_update, should_cancel, poll_interval, use_sse, timeout):
    job.ensure_server()
    job.submit()
    record = wait_for_job(job.client, job.job_id, on_update=on_update, should_cancel=should_cancel,
                          poll_interval=poll_interval, use_sse=use_sse, timeout=timeout)
    done = job.finish(record)
    done.update(description=job.description, job=record, request=job.request_path)
    return done


def run(resolve, options, client=None, on_update=None, should_cancel=None, workdir=None,
        poll_interval=0.3, use_sse=True, timeout=None):
    """Do one operation end to end. Returns ``{description, job, placed, audio, take, name, removed,
    notes, request, steps}``: ``placed`` the result's items ``{id, track, start, end, duration,
    left_offset, media, timecode}`` (track 1-based, frames absolute), ``audio`` the same for its
    sound on audio tracks (room tone under new frames), ``take`` its take number,
    ``removed`` what a confirmed overwrite took away, ``notes`` what the editor should know (the
    result went on another track, a colour did not stick, a clip was re-placed from its media).
    ``options["confirm_overwrite"]``: the ``question`` of the OverwriteNeedsConfirmation the editor
    answered yes to (only exactly those clips, where they were, are removed or shortened)."""
    job = Run(resolve, options, client=client, workdir=workdir)
    job.read_context()
    return _follow(job, on_update, should_cancel, poll_interval, use_sse, timeout)


def remove_last(resolve, options=None):
    """Take the newest ShotForge result off the current timeline, leaving it as it was before it.

    Returns ``{removed, notes, take, tracks_deleted, audio_tracks_deleted}``; clips of the result
    the editor already removed, moved or trimmed are left alone and named in ``notes``."""
    facts = read_facts(resolve)
    timeline_id = _timeline_id(facts)
    record = takes_mod.last_result(timeline_id)
    if record is None:
        raise ContextError("There is no ShotForge result on this timeline to remove.")
    steps, notes = takes_mod.plan_remove(facts, record)
    done = _execute(resolve, steps, timeline_id)
    takes_mod.pop_last(timeline_id)
    return {"removed": done["removed"], "notes": notes + done["notes"], "take": record,
            "tracks_deleted": done["tracks_deleted"], "audio_tracks_deleted": done["audio_tracks_deleted"]}


def start_new_take(resolve, options, seed=None, prompt=None, client=None):
    """A Run that re-renders the newest result's exact request with a new seed (``None``: a fresh
    random seed) and/or ``prompt``; ``finish`` swaps it into the same slot (the dialog uses this)."""
    job = Run(resolve, options, client=client)
    job.facts = read_facts(resolve)
    job.timeline_id = _timeline_id(job.facts)
    previous = takes_mod.last_result(job.timeline_id)
    if previous is None:
        raise ContextError("There is no ShotForge result on this timeline to make a new take of: run an "
                           "operation first.")
    job.replacing = previous
    job.request, job.meta = takes_mod.new_request(previous, seed=seed, prompt=prompt)
    job.description = "New take of '{}' (seed {})".format(take_name(previous["operation"], previous["take"]),
                                                         job.meta["seed"])
    return job


def new_take(resolve, options, seed=None, prompt=None, client=None, on_update=None, should_cancel=None,
             poll_interval=0.3, use_sse=True, timeout=None):
    """Re-render the newest result's exact request with a new seed (``None``: a fresh random seed)
    and/or ``prompt``, and swap it into the same slot as the next take, in one set of steps: if
    anything fails the previous take is back exactly. Returns what ``run`` returns."""
    job = start_new_take(resolve, options, seed=seed, prompt=prompt, client=client)
    return _follow(job, on_update, should_cancel, poll_interval, use_sse, timeout)



class Conform(object):
    """Conform placeholders in steps the dialog calls between timer ticks: ``start`` (find the
    takes, send the re-renders), ``poll`` (progress over the whole conform), ``cancel``, ``place``."""

    def __init__(self, resolve, options, client=None):
        self.resolve = resolve
        self.options = dict(settings_mod.DEFAULTS)
        self.options.update(options or {})
        _engine, _model, self.include_classical, self.mode, _seed = conform_mod.choices(self.options)
        self.job = Run(resolve, self.options, client=client)
        self.client = self.job.client
        self.units, self.problems, self.records = [], [], {}
        self.timeline_id = None

    def start(self):
        facts = read_facts(self.resolve)
        self.timeline_id = _timeline_id(facts)
        self.job.ensure_server()
        self.units, self.problems = conform_mod.find_units(facts, self.client, self.include_classical)
        if not self.units and not self.problems:
            raise ContextError("There is no ShotForge placeholder{} on '{}' to conform.".format(
                " or classical result" if self.include_classical else "", facts["timeline"].get("name")))
        conform_mod.submit_units(self.client, self.units, self.options)
        return "Conform placeholders: {} take{} to re-render".format(len(self.units),
                                                                    "" if len(self.units) == 1 else "s")

    def poll(self):
        """(all re-renders ended, fraction over the whole conform, stage words)."""
        for unit in self.units:
            if unit.get("new_job") and not unit.get("finished"):
                record = self.records[unit["new_job"]] = self.client.job(unit["new_job"])
                if record.get("state") in conform_mod.TERMINAL:
                    conform_mod.job_outcome(unit, record)
        return conform_mod.progress(self.units, self.records)

    def cancel(self):
        conform_mod.cancel_units(self.client, self.units)
        return JobCanceled("Conform canceled: the re-renders still running were canceled and nothing was placed; "
                           "the timeline is unchanged.")

    def place(self):
        """Place each finished re-render in turn; one that fails is undone and named, the rest go on.
        Returns ``{units, problems, message}``."""
        for unit in self.units:
            if not unit.get("new_job") or unit.get("error"):
                continue
            record = self.records[unit["new_job"]]
            try:
                facts = read_facts(self.resolve)
                if _timeline_id(facts) != self.timeline_id:
                    raise PlacementError("the current timeline changed while the re-renders ran ({})".format(
                        takes_mod.render_words(record)))
                steps, pending = conform_mod.plan_unit(facts, unit, record, self.mode)
                done = _execute(self.resolve, steps, self.timeline_id)
                conform_mod.record_unit(self.timeline_id, unit, record, steps, done, pending)
                unit["placed"], unit["notes"] = done["placed"], pending["notes"] + done["notes"]
            except ShotForgeError as exc:
                unit["error"] = exc.message
        return {"units": self.units, "problems": self.problems,
                "message": conform_mod.summary(self.units, self.problems, self.mode)}


def conform(resolve, options, client=None, on_update=None, should_cancel=None, poll_interval=0.3, timeout=None):
    """Conform placeholders: every ShotForge placeholder on the current timeline (and, with
    ``options["conform_classical"]``, every classical result) re-rendered by the server from its
    take (``conform_engine``: diffusers, classical or auto = the take's own; ``conform_model``;
    ``conform_new_seed``) and placed as the next take of its slot: ``conform_mode`` "beside" on a
    free track above it, "swap" in its place (removed and placed in one set of steps, all undone
    on a mismatch). One take that fails is named (clip, track, timecode, reason) and the others are
    still placed. ``on_update`` gets ``{state, progress, stage}`` over the whole conform;
    ``should_cancel()`` true cancels every re-render still running and places nothing
    (JobCanceled). Returns ``{units, problems, message}``."""
    job = Conform(resolve, options, client=client)
    job.start()
    started = time.time()
    while True:
        finished, fraction, stage = job.poll()
        if on_update:
            on_update({"state": "done" if finished else "running", "progress": fraction, "stage": stage})
        if finished:
            return job.place()
        if (should_cancel and should_cancel()) or (timeout is not None and time.time() - started > timeout):
            raise job.cancel()
        time.sleep(poll_interval)
