"""``shotforge resolve-bridge conform-*``: Conform placeholders for the Lua entry (the decisions
in ``conform``; the state of one conform kept in ``<config>/lua/conform/ID.json`` between commands).
"""

import os
import time

from .bridge import _ensure_server, _job_file, client_for, load_options, read_json, timeline_of, work_dir, write_json
from .errors import ContextError, PlacementError, ShotForgeError


def _conform_file(conform_id):
    folder = os.path.join(work_dir(), "conform")
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return os.path.join(folder, os.path.basename(_job_file(conform_id)))


def conform_state(conform_id):
    path = _conform_file(conform_id)
    if not os.path.isfile(path):
        raise ShotForgeError("Conform {} was not started from this machine's Lua entry.".format(conform_id),
                             code="unknown_job")
    return read_json(path, "conform state")


def cmd_conform_start(args):
    from . import conform

    facts = read_json(args.facts, "facts")
    timeline = timeline_of(facts)
    options = load_options(args)
    _engine, _model, include_classical, mode, _seed = conform.choices(options)
    client = client_for(options)
    _ensure_server(client, options)
    units, problems = conform.find_units(facts, client, include_classical)
    if not units and not problems:
        raise ContextError("There is no ShotForge placeholder{} on '{}' to conform.".format(
            " or classical result" if include_classical else "", timeline.get("name")))
    conform.submit_units(client, units, options)
    conform_id = "conform-{}-{}".format(int(time.time() * 1000), os.getpid())
    write_json(_conform_file(conform_id), {"timeline": timeline["id"], "mode": mode, "units": units,
                                           "problems": problems, "records": {}})
    return {"ok": True, "conform": conform_id, "count": len(units),
            "description": "Conform placeholders: {} take{} to re-render".format(len(units), "" if len(units) == 1
                                                                                 else "s")}


def _conform_poll(client, state):
    from . import conform

    for unit in state["units"]:
        if unit.get("new_job") and not unit.get("finished"):
            record = client.job(unit["new_job"])
            state["records"][unit["new_job"]] = record
            if record.get("state") in conform.TERMINAL:
                conform.job_outcome(unit, record)
    return conform.progress(state["units"], state["records"])


def cmd_conform_status(args):
    client = client_for(load_options(args))
    state = conform_state(args.conform)
    deadline = time.time() + max(0.0, float(args.wait or 0))
    while True:
        finished, fraction, stage = _conform_poll(client, state)
        if finished or time.time() >= deadline:
            break
        time.sleep(0.2)
    write_json(_conform_file(args.conform), state)
    return {"ok": True, "state": "done" if finished else "running", "progress": fraction, "stage": stage,
            "count": len(state["units"])}


def cmd_conform_cancel(args):
    from . import conform

    state = conform_state(args.conform)
    conform.cancel_units(client_for(load_options(args)), state["units"])
    state["canceled"] = True
    write_json(_conform_file(args.conform), state)
    return {"ok": True, "state": "canceled"}


def _unit(state, index):
    try:
        return state["units"][int(index) - 1]
    except (ValueError, IndexError):
        raise ShotForgeError("Conform has no take {}.".format(index), code="bad_input")


def cmd_conform_steps(args):
    """Steps for take N of the conform (1-based), or ``skip`` when it has nothing to place."""
    from . import conform

    state = conform_state(args.conform)
    unit = _unit(state, args.index)
    if state.get("canceled") or not unit.get("new_job") or unit.get("error") or not unit.get("finished"):
        return {"ok": True, "skip": True}
    facts = read_json(args.facts, "facts")
    try:
        if timeline_of(facts)["id"] != state["timeline"]:
            raise PlacementError("the current timeline changed while the re-renders ran")
        steps, pending = conform.plan_unit(facts, unit, state["records"][unit["new_job"]], state["mode"])
    except ShotForgeError as exc:
        unit["error"] = exc.message
        write_json(_conform_file(args.conform), state)
        return {"ok": True, "skip": True}
    unit["steps"], unit["pending"] = steps, pending
    write_json(_conform_file(args.conform), state)
    return {"ok": True, "steps": steps}


def cmd_conform_placed(args):
    from . import conform

    state = conform_state(args.conform)
    unit = _unit(state, args.index)
    executed = read_json(args.result, "placement result")
    if executed.get("error") or "steps" not in unit:
        unit["error"] = executed.get("error") or "nothing was planned for it"
    else:
        conform.record_unit(state["timeline"], unit, state["records"][unit["new_job"]], unit["steps"], executed,
                            unit["pending"])
    write_json(_conform_file(args.conform), state)
    return {"ok": True, "take": unit.get("placed_take")}


def cmd_conform_summary(args):
    from . import conform

    state = conform_state(args.conform)
    if state.get("canceled"):
        return {"ok": True, "message": "Conform canceled: the re-renders still running were canceled and nothing "
                                       "more was placed."}
    return {"ok": True, "message": conform.summary(state["units"], state["problems"], state["mode"])}
