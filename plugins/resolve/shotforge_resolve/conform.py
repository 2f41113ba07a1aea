"""Conform placeholders: every ShotForge placeholder on the timeline re-rendered by the server
(``POST /v1/takes/{id}/rerender``, engine and model from the dialog) and placed as the next take
of its slot, beside it (a free track above, the placeholder kept) or swapped in (the placeholder
removed and the new take placed in its slot in one set of steps, so a failure puts it back).

The decisions, on plain data, shared by ``workflow.conform`` and the Lua entry's bridge:
``find_units`` (which takes, from the item markers, the take store and the server's records),
``submit_units`` (the re-renders), ``progress`` (over the whole conform), ``plan_unit`` /
``record_unit`` (steps for one new take, then its record) and ``summary`` (what the editor reads).
A unit is JSON: ``{job, take_id, where, seed, meta, request, new_job, error}``.
"""

import json
import random

from . import takes as takes_mod
from .context import MAX_SEED
from .errors import ContextError, ServerDownError, ServerError
from .place import Facts

MODES = ("beside", "swap")
ENGINES = ("diffusers", "classical", "auto")
TERMINAL = ("done", "failed", "canceled")


def choices(options):
    """(engine, model, include classical, mode, new seed) from the dialog's values, checked."""
    engine = str(options.get("conform_engine") or "diffusers")
    mode = str(options.get("conform_mode") or "beside")
    if engine not in ENGINES:
        raise ContextError("Conform engine {!r} is not one of {}.".format(engine, ", ".join(ENGINES)))
    if mode not in MODES:
        raise ContextError("Conform mode {!r} is not 'beside' (a new take above) or 'swap' (in the slot).".format(mode))
    model = str(options.get("conform_model") or "").strip()
    if model and engine != "diffusers":
        raise ContextError("A model ({}) needs the diffusers engine; the {} engine has none.".format(model, engine))
    return engine, model, bool(options.get("conform_classical")), mode, bool(options.get("conform_new_seed"))


def _take_marker(item):
    """The recipe of the ShotForge marker an item carries ({job, take, ...}), or None."""
    return next((recipe for recipe in takes_mod.take_markers(item) if recipe.get("job")), None)


def _not_found(exc):
    return exc.code in ("not_found", "job_not_found", "take_not_found", "http_404")


def _where(view, item):
    return "'{}' on V{} at {}".format(item.get("name") or "clip", item["track"], view.at(int(item["start"])))


def find_units(facts, client, include_classical, path=None):
    """The takes to conform, in timeline order (track, then record frame), and the ShotForge clips
    that cannot be (``{where, reason}``): one unit per job, whatever number of pieces it placed."""
    view = facts if isinstance(facts, Facts) else Facts(facts)
    found, order = {}, []
    for track in range(1, view.count + 1):
        for item in sorted(view.track_items(track), key=lambda i: int(i["start"])):
            recipe = _take_marker(item)
            if recipe is not None and recipe["job"] not in found:
                found[recipe["job"]] = (item, recipe)
                order.append(recipe["job"])
    units, problems = [], []
    for job_id in order:
        item, recipe = found[job_id]
        where = _where(view, item)
        try:
            job = client.job(job_id)
        except ServerError as exc:
            if not _not_found(exc):
                raise
            problems.append({"where": where, "reason": "the server at {} has no record of its job {} (another server "
                             "rendered it, or its job store was cleared): it cannot be re-rendered from there".format(
                                 client.base_url, job_id)})
            continue
        result = job.get("result") or {}
        placeholder = bool(result.get("placeholder"))
        if not placeholder and not (include_classical and result.get("engine") == "classical"):
            continue  # a model's result, or a classical one not asked for
        take_ids = result.get("takes") or []
        record = takes_mod.find_result(view.id, job_id, path)
        reason = None
        take = None
        if not take_ids:
            reason = "the server kept no take of its job {} (rendered before takes were recorded)".format(job_id)
        else:
            try:
                take = client.take(take_ids[0])
            except ServerError as exc:
                if not _not_found(exc):
                    raise
                reason = "the server at {} has no record of its take {} (another server rendered it)".format(
                    client.base_url, take_ids[0])
        if reason is None and record is None:
            reason = "this machine's take store has no record of it on this timeline (placed from another machine?)"
        if reason:
            problems.append({"where": where, "reason": reason})
            continue
        units.append({"job": job_id, "take_id": take["id"], "where": where, "seed": take.get("seed"),
                      "placeholder": placeholder, "meta": dict(record.get("meta") or {}),
                      "request": record.get("request") or "", "new_job": None, "error": None})
    return units, problems


def overrides(unit, engine, model, new_seed):
    """The re-render's body: the dialog's engine and model ("auto": the take's own), the take's
    seed or a fresh one."""
    body = {}
    if engine != "auto":
        body["engine"] = engine
    if model:
        body["model"] = model
    if new_seed:
        body["seed"] = random.SystemRandom().randint(0, MAX_SEED)
    return body


def _keep_new_request(unit, job_id, meta):
    """The take's stored request with the new seed, engine and model, kept for the new job (so a
    later New take of it re-renders what it is); "" when the old request cannot be read."""
    try:
        with open(unit["request"], "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError, TypeError):
        return ""
    data.setdefault("metadata", {})["shotforge"] = meta
    return takes_mod.keep_request(data, job_id)


def submit_units(client, units, options):
    """Ask the server for each unit's re-render; a refusal is that unit's error, the rest go on.
    The server being down cancels what was sent and raises."""
    engine, model, _classical, _mode, new_seed = choices(options)
    for unit in units:
        body = overrides(unit, engine, model, new_seed)
        try:
            unit["new_job"] = client.rerender(unit["take_id"], body)
        except ServerDownError:
            cancel_units(client, units)
            raise
        except ServerError as exc:
            unit["error"] = exc.message
            continue
        meta = dict(unit["meta"], seed=body.get("seed", unit["seed"]))
        if engine != "auto":
            meta["engine"] = engine
            meta.pop("model", None)
        if model:
            meta["model"] = model
        unit["meta"] = meta
        unit["request"] = _keep_new_request(unit, unit["new_job"], meta)
    return units


def cancel_units(client, units):
    for unit in units:
        if unit.get("new_job") and not unit.get("finished"):
            try:
                client.cancel(unit["new_job"])
            except ServerError:
                pass  # it finished meanwhile: its record says so


def progress(units, records):
    """(all finished, fraction over the whole conform, stage words) from each new job's record."""
    sent = [unit for unit in units if unit.get("new_job")]
    if not sent:
        return True, 1.0, "nothing to render"
    total, finished = 0.0, 0
    for unit in sent:
        record = records.get(unit["new_job"]) or {}
        if record.get("state") in TERMINAL:
            finished += 1
            total += 1.0
        else:
            total += float(record.get("progress") or 0)
    stage = "{} of {} re-renders finished".format(finished, len(sent))
    return finished == len(sent), total / len(sent), stage


def job_outcome(unit, record):
    """Mark a unit whose job ended: its error when the job failed or was canceled."""
    unit["finished"] = True
    state = record.get("state")
    if state == "failed":
        error = record.get("error") or {}
        unit["error"] = "the re-render failed: {}".format(error.get("message") if isinstance(error, dict) else error)
    elif state == "canceled":
        unit["error"] = "its re-render was canceled"


def plan_unit(facts, unit, job_record, mode, path=None):
    """Steps that place one finished re-render as the next take of its slot, beside the old take
    or in its place (``mode``), and the ``pending`` data ``record_unit`` needs."""
    view = facts if isinstance(facts, Facts) else Facts(facts)
    record = takes_mod.find_result(view.id, unit["job"], path)
    if record is None:
        raise ContextError("its take is no longer in this timeline's take store")
    if mode == "swap":
        return takes_mod.plan_result(view, job_record, unit["meta"], {"placement": "auto"}, previous=record,
                                     path=path)
    return takes_mod.plan_result(view, job_record, unit["meta"], {"placement": "auto"}, path=path, beside=record)


def record_unit(timeline_id, unit, job_record, steps, executed, pending, path=None):
    record = takes_mod.record_result(timeline_id, job_record, unit["meta"], unit["request"], steps, executed,
                                     pending, path)
    unit["placed_take"] = record["take"]
    return record


def failure_words(unit):
    return "{}: {}".format(unit["where"], unit["error"].rstrip("."))


def summary(units, problems, mode):
    """What the editor reads at the end: how many were conformed, and each one not, named."""
    done = [unit for unit in units if unit.get("placed_take")]
    failed = [failure_words(unit) for unit in units if not unit.get("placed_take")]
    failed += ["{}: {}".format(problem["where"], problem["reason"].rstrip(".")) for problem in problems]
    how = "each swapped into its slot" if mode == "swap" else "each on a free track above its old take"
    text = "Conformed {} of {} ShotForge take{} ({}).".format(len(done), len(units) + len(problems),
                                                               "" if len(units) + len(problems) == 1 else "s", how)
    if failed:
        text += " Not conformed: " + "; ".join(failed) + "."
    return text
