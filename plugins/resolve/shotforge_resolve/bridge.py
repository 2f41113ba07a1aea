"""``shotforge resolve-bridge``: the Python side of the Lua entry (ShotForge.lua).

Lua 5.1 inside Resolve has no JSON and no sockets, so ShotForge.lua reads facts and carries out
steps (PROTOCOL.md) and asks this command for everything else: the request, HTTP to the server,
the placement plan, the take store. Inputs are JSON files the Lua writes; every answer is one Lua
table literal on stdout, ``return {...}``, which the Lua loads with ``loadstring`` in an empty
environment. Errors are answers too, ``return {["ok"] = false, ["error"] = {code, message}}``;
never a traceback on stdout (tracebacks of unexpected errors go to stderr, which the Lua sends to
its log file).

Commands (``--options O``: the dialog's values as JSON, server URL and token included; every
command also takes ``--server URL`` and ``--token T`` over those):
``settings``; ``prepare --facts F --options O --meta-out M [--target-out T]``; ``new-take --facts F
--options O``; ``submit --request R --meta M --timeline ID [--target T] --options O``; ``status JOB
[--wait S]``; ``watch JOB --out FILE``; ``cancel JOB``; ``steps --facts F --job JOB --options O``
(refused when the target ``T`` changed while the job ran); ``placed --job JOB --result R``;
``remove-last --facts F``; ``removed --timeline ID --job JOB --result R`` (R: the executor's result; answers the
removal in words); ``restored --timeline ID --ids F``
(a failed placement put clips back under new ids: ``F`` maps old to new, the takes follow).
A job's request, metadata and plan are kept between commands in ``<config>/lua/jobs/JOB.json``.
Conform placeholders (``conform``): ``conform-start --facts F --options O`` (the re-renders sent;
answers ``conform``, an id), ``conform-status ID [--wait S]`` (progress over the whole conform),
``conform-cancel ID``, then per take ``conform-steps ID --index N --facts F`` and ``conform-placed
ID --index N --result R`` (R: the executor's result, or ``{"error": message}``), and
``conform-summary ID``; kept in ``<config>/lua/conform/ID.json``.
"""

import argparse
import json
import math
import os
import sys
import time
import traceback

from . import atomic
from . import settings as settings_mod
from .errors import ContextError, PlacementError, ShotForgeError

TERMINAL = ("done", "failed", "canceled")


# ----------------------------------------------------------------------------- Lua literals
def lua_string(text):
    """A Lua 5.1 string literal for ``text``: printable ASCII as is, every other byte of its UTF-8
    as a three-digit ``\\ddd`` escape (so a digit after it cannot join the escape)."""
    try:
        data = text.encode("utf-8", "surrogateescape")  # file names decoded with surrogateescape
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
    out = []
    for byte in bytearray(data):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append("\\%03d" % byte)
    return '"' + "".join(out) + '"'


def lua_literal(value, depth=0):
    """``value`` (None, bool, int, float, str, list/tuple, dict) as a Lua table constructor
    expression. Lists become 1-based sequences; dict keys are written ``["key"] = ...`` (numbers
    ``[n] = ...``); None in a dict drops the key (Lua tables hold no nil)."""
    if depth > 64:
        raise ValueError("the answer is nested too deep to write as Lua")
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > 2 ** 53:
            raise ValueError("{} is too large for a Lua 5.1 number".format(value))
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "(0/0)"
        if math.isinf(value):
            return "(1/0)" if value > 0 else "(-1/0)"
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(lua_literal(item, depth + 1) for item in value) + "}"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if item is None:
                continue
            if isinstance(key, bool) or not isinstance(key, (str, int, float)):
                raise ValueError("a {} key cannot be written as Lua".format(type(key).__name__))
            parts.append("[{}] = {}".format(lua_literal(key, depth + 1), lua_literal(item, depth + 1)))
        return "{" + ", ".join(parts) + "}"
    raise ValueError("a {} cannot be written as Lua".format(type(value).__name__))


def answer(value):
    return "return " + lua_literal(value) + "\n"


def failure(code, message, **extra):
    error = {"code": code, "message": message}
    error.update(extra)
    return {"ok": False, "error": error}


# ----------------------------------------------------------------------------- files
def work_dir():
    folder = os.path.join(settings_mod.config_dir(), "lua")
    if not os.path.isdir(os.path.join(folder, "jobs")):
        os.makedirs(os.path.join(folder, "jobs"))
    return folder


def read_json(path, what):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8", "surrogateescape"))
    except (OSError, ValueError) as exc:
        raise ShotForgeError("The {} file {} cannot be read: {}".format(what, path, exc), code="bad_input")


def write_json(path, data):
    return atomic.write_json(path, data, errors="surrogateescape")


def _job_file(job_id):
    safe = "".join(c for c in str(job_id) if c.isalnum() or c in "-_")
    if not safe:
        raise ShotForgeError("{!r} is not a job id.".format(job_id), code="bad_input")
    return os.path.join(work_dir(), "jobs", safe + ".json")


def job_state(job_id):
    path = _job_file(job_id)
    if not os.path.isfile(path):
        raise ShotForgeError("Job {} was not sent from this machine's Lua entry: nothing is known about it.".format(
            job_id), code="unknown_job")
    return read_json(path, "job state")


def save_job_state(job_id, state):
    write_json(_job_file(job_id), state)


def load_options(args):
    options = dict(settings_mod.DEFAULTS)
    if getattr(args, "options", None):
        given = read_json(args.options, "options")
        if not isinstance(given, dict):
            raise ShotForgeError("The options file {} holds no object.".format(args.options), code="bad_input")
        options.update(given)
    if getattr(args, "server", None):
        options["server_url"] = args.server
    if getattr(args, "token", None):
        options["token"] = args.token
    return options


def client_for(options):
    from .client import Client

    return Client(options.get("server_url"), options.get("token") or None)


def timeline_of(facts):
    timeline = (facts or {}).get("timeline") or {}
    if not timeline.get("id"):
        raise ContextError("No timeline is open: open the timeline to work on in the Edit page.")
    return timeline


# ----------------------------------------------------------------------------- commands
def cmd_settings(args):
    from . import ui
    from .context import CANVAS_PRESETS

    def pairs(names):
        return [[name, name] for name in names]

    values = settings_mod.load()
    values["operation_choice"] = values["operation"] + (
        ":" + values["side"] if values["operation"] == "extend" else "")
    choices = {
        "operation": [[label, op + (":" + side if side else "")] for label, op, side in ui.OPERATION_CHOICES],
        "engine": pairs(ui.ENGINE_CHOICES), "length_unit": pairs(ui.UNIT_CHOICES), "canvas": pairs(CANVAS_PRESETS),
        "placement": [list(pair) for pair in ui.PLACEMENT_CHOICES],
        "generate_range": [list(pair) for pair in ui.RANGE_CHOICES],
        "reference": [list(pair) for pair in ui.REFERENCE_CHOICES],
        "inpaint_with": [list(pair) for pair in ui.INPAINT_CHOICES],
        "conform_engine": pairs(ui.CONFORM_ENGINE_CHOICES),
        "conform_mode": [list(pair) for pair in ui.CONFORM_MODE_CHOICES],
    }
    return {"ok": True, "workdir": work_dir(), "settings": values, "choices": choices}


def cmd_prepare(args):
    from .context import prepare, target_state

    facts = read_json(args.facts, "facts")
    options = load_options(args)
    try:
        settings_mod.save(options)
    except OSError:
        pass  # remembered values are a convenience: never block a run on them
    description, meta, target = prepare(facts, options)
    write_json(args.meta_out, meta)
    if args.target_out:
        write_json(args.target_out, target_state(target))
    return {"ok": True, "description": description, "meta": meta, "timeline": timeline_of(facts)["id"]}


def _ensure_server(client, options):
    shotforge = options.get("shotforge_path") or None
    log = os.path.join(settings_mod.config_dir(), "server.log")
    return client.ensure_running(shotforge, log_path=log if shotforge else None)


def _submit(options, data, state):
    from . import takes

    client = client_for(options)
    _ensure_server(client, options)
    job_id = client.submit(data)
    state["request"] = takes.keep_request(data, job_id)
    save_job_state(job_id, state)
    return job_id


def cmd_submit(args):
    from .context import add_request_metadata

    options = load_options(args)
    meta = read_json(args.meta, "request metadata")
    _path, data = add_request_metadata(args.request, meta)
    state = {"meta": meta, "timeline": args.timeline}
    if args.target:
        state["target"] = read_json(args.target, "target")
    job_id = _submit(options, data, state)
    return {"ok": True, "job": job_id}


def cmd_new_take(args):
    """Re-render the last result's slot from its stored request, with a new seed (the dialog's
    when it differs from the take's, else a random one) and the dialog's prompt when one is set."""
    from . import takes

    facts = read_json(args.facts, "facts")
    timeline = timeline_of(facts)
    options = load_options(args)
    record = takes.last_result(timeline["id"])
    if record is None:
        raise ContextError("There is no ShotForge result on '{}' to make a new take of.".format(timeline.get("name")))
    seed = options.get("seed")
    if str(seed).strip() == str((record.get("recipe") or {}).get("seed")):
        seed = None
    prompt = options.get("prompt") or None
    data, meta = takes.new_request(record, seed=seed, prompt=prompt)
    job_id = _submit(options, data, {"meta": meta, "timeline": timeline["id"], "replaces": record.get("job")})
    description = "New take of {} take {} (seed {})".format(record["operation"], record["take"], meta["seed"])
    return {"ok": True, "job": job_id, "description": description, "meta": meta}


def _status(record):
    error = record.get("error")
    if isinstance(error, dict):
        error = {"code": error.get("code") or "job_failed", "message": error.get("message") or ""}
    elif error:
        error = {"code": "job_failed", "message": str(error)}
    if record.get("state") == "failed" and error:
        error["message"] = "The ShotForge job failed: " + error["message"]
    return {"ok": True, "state": record.get("state"), "progress": float(record.get("progress") or 0),
            "stage": record.get("stage") or "", "error": error or None}


def cmd_status(args):
    client = client_for(load_options(args))
    deadline = time.time() + max(0.0, float(args.wait or 0))
    first = None
    while True:
        record = client.job(args.job)
        marker = (record.get("state"), record.get("progress"), record.get("stage"))
        first = first or marker
        if record.get("state") in TERMINAL or marker != first or time.time() >= deadline:
            return _status(record)
        time.sleep(0.1)


def cmd_watch(args):
    """Follow a job and keep ``--out`` holding its latest status answer (replaced atomically), until
    the job ends or the server has not answered for a while; the dialog's timer only reads it."""
    from .errors import ServerDownError

    client = client_for(load_options(args))
    failures = 0
    while True:
        try:
            status = _status(client.job(args.job))
            failures = 0
        except ServerDownError as exc:
            failures += 1
            if failures < 6:
                time.sleep(0.5)
                continue
            status = failure(exc.code, exc.message)
        atomic.write_text(args.out, answer(status), encoding="ascii")
        if not status["ok"] or status["state"] in TERMINAL:
            return status
        time.sleep(0.25)


def cmd_cancel(args):
    record = client_for(load_options(args)).cancel(args.job)
    return {"ok": True, "state": (record or {}).get("state")}


def cmd_steps(args):
    from . import takes
    from .client import check_finished
    from .context import target_changes

    facts = read_json(args.facts, "facts")
    timeline = timeline_of(facts)
    options = load_options(args)
    state = job_state(args.job)
    if state.get("timeline") and timeline["id"] != state["timeline"]:
        raise PlacementError("The current timeline changed while the job ran: nothing was placed. Switch back to the "
                             "timeline the job was made on and run ShotForge again.")
    record = check_finished(client_for(options).job(args.job))
    changed = target_changes(facts, state["target"]) if state.get("target") else None
    if changed:
        raise PlacementError("The timeline changed while the job ran ({}): nothing was placed. Run ShotForge again on "
                             "the timeline as it is now ({}).".format(changed, takes.render_words(record)))
    previous = None
    if state.get("replaces"):
        previous = takes.check_still_newest(timeline["id"], {"job": state["replaces"]})
    meta = state["meta"]
    steps, pending = takes.plan_result(facts, record, meta, {
        "placement": meta.get("placement") or "auto", "confirm_overwrite": options.get("confirm_overwrite")},
        previous=previous)
    state.update(record=record, steps=steps, pending=pending)
    save_job_state(args.job, state)
    return {"ok": True, "steps": steps, "take": pending["take"], "notes": pending["notes"]}


def cmd_placed(args):
    from . import takes

    state = job_state(args.job)
    if "steps" not in state:
        raise ShotForgeError("Job {} has no planned steps: run `steps` first.".format(args.job), code="bad_input")
    executed = read_json(args.result, "placement result")
    record = takes.record_result(state["timeline"], state["record"], state["meta"], state["request"], state["steps"],
                                 executed, state["pending"])
    return {"ok": True, "take": record["take"], "notes": state["pending"]["notes"] + list(executed.get("notes") or [])}


def cmd_remove_last(args):
    from . import takes

    facts = read_json(args.facts, "facts")
    timeline = timeline_of(facts)
    record = takes.last_result(timeline["id"])
    if record is None:
        raise ContextError("There is no ShotForge result on '{}' to remove.".format(timeline.get("name")))
    steps, notes = takes.plan_remove(facts, record)
    return {"ok": True, "steps": steps, "notes": notes, "job": record.get("job"), "take": record.get("take")}


def cmd_restored(args):
    """After a failed placement or removal put clips back under new ids: the takes follow them."""
    from . import takes

    restored = read_json(args.ids, "restored ids")
    if not isinstance(restored, dict):
        raise ShotForgeError("The restored ids file {} holds no object.".format(args.ids), code="bad_input")
    takes.follow_ids(args.timeline, restored)
    return {"ok": True}


def cmd_removed(args):
    from . import takes

    record = takes.last_result(args.timeline)
    if record is None or record.get("job") != args.job:
        raise ContextError("The last ShotForge result on this timeline is not job {}: the take store is unchanged."
                           .format(args.job))
    takes.pop_last(args.timeline)
    return {"ok": True, "take": record.get("take"),
            "message": takes.removed_words(record, read_json(args.result, "removal result"))}


# ----------------------------------------------------------------------------- command line
class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def build_parser():
    parser = _Parser(prog="shotforge resolve-bridge", add_help=False)
    commands = parser.add_subparsers(dest="command")

    def command(name, handler, *arguments):
        sub = commands.add_parser(name, add_help=False)
        for flag in arguments:
            if flag.startswith("--"):
                sub.add_argument(flag, required=flag not in OPTIONAL)
            else:
                sub.add_argument(flag)
        sub.add_argument("--options")
        sub.add_argument("--server", help="the server's URL (over the options' server_url)")
        sub.add_argument("--token", help="the server's token (over the options' token)")
        sub.set_defaults(handler=handler)
        return sub

    OPTIONAL = ("--wait", "--target-out", "--target")
    command("settings", cmd_settings)
    command("prepare", cmd_prepare, "--facts", "--meta-out", "--target-out")
    command("new-take", cmd_new_take, "--facts")
    command("submit", cmd_submit, "--request", "--meta", "--timeline", "--target")
    command("status", cmd_status, "job", "--wait")
    command("watch", cmd_watch, "job", "--out")
    command("cancel", cmd_cancel, "job")
    command("steps", cmd_steps, "--facts", "--job")
    command("placed", cmd_placed, "--job", "--result")
    command("remove-last", cmd_remove_last, "--facts")
    command("removed", cmd_removed, "--timeline", "--job", "--result")
    command("restored", cmd_restored, "--timeline", "--ids")
    from . import bridge_conform as conform  # noqa: E402 (it uses this module's helpers)

    command("conform-start", conform.cmd_conform_start, "--facts")
    command("conform-status", conform.cmd_conform_status, "conform", "--wait")
    command("conform-cancel", conform.cmd_conform_cancel, "conform")
    command("conform-steps", conform.cmd_conform_steps, "conform", "--index", "--facts")
    command("conform-placed", conform.cmd_conform_placed, "conform", "--index", "--result")
    command("conform-summary", conform.cmd_conform_summary, "conform")
    return parser


def run(argv):
    """The answer (a dict) for one bridge command line; never raises."""
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "handler", None):
            raise _UsageError("no command given")
        return args.handler(args)
    except _UsageError as exc:
        return failure("usage", "shotforge resolve-bridge: {}".format(exc))
    except ShotForgeError as exc:
        extra = {}
        if getattr(exc, "clips", None):
            extra = {"clips": exc.clips, "media": getattr(exc, "media", []), "question": getattr(exc, "question", [])}
        return failure(exc.code, exc.message, **extra)
    except Exception as exc:  # the Lua must get an answer it can show, whatever happened
        traceback.print_exc(file=sys.stderr)
        return failure("internal", "shotforge resolve-bridge {}: {}: {}".format(
            argv[0] if argv else "", type(exc).__name__, exc))


def main(argv=None):
    result = run(list(sys.argv[1:] if argv is None else argv))
    try:
        text = answer(result)
    except ValueError as exc:
        text = answer(failure("internal", "the answer could not be written as Lua: {}".format(exc)))
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0 if result.get("ok") else 1


def register(subparsers):
    """``shotforge resolve-bridge ...`` (the rest of the line is this module's own command line)."""
    parser = subparsers.add_parser(
        "resolve-bridge", help="answer ShotForge.lua, the Resolve Lua entry (prints a Lua table)",
        description="Used by ShotForge.lua inside DaVinci Resolve: prepares requests, talks to the server, plans "
                    "placements and keeps the takes; prints each answer as a Lua table literal.")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=lambda args: main(args.rest))
    return parser
