"""``shotforge takes list`` and ``shotforge takes rerender``: the takes API from the command line.

Both talk to a running server (``--server``, default ``http://127.0.0.1:8765``; ``--token`` or
``SHOTFORGE_TOKEN``), which owns the job store: a re-render is a job like any other, and the
server that rendered the take knows its media roots and path mapping. Standard library only.

Exit codes: 0 done, 1 the re-render failed or was canceled (``--wait``), 2 refused (a bad
override, a slot change, an unknown take), 3 no server answering.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from otio_tools.takes import OVERRIDES

DEFAULT_SERVER = "http://127.0.0.1:8765"


def register(subparsers) -> None:
    takes = subparsers.add_parser("takes", help="list takes and re-render one into the same slot (needs a server)")
    takes.set_defaults(handler=lambda args: takes.print_help() or 2)
    commands = takes.add_subparsers(title="takes commands")

    listing = commands.add_parser("list", help="the takes of a timeline, of one slot, or of a job, newest first")
    _server_options(listing)
    listing.add_argument("--timeline", help="name of the request timeline")
    listing.add_argument("--track", type=int, help="0-based video track of the slot")
    listing.add_argument("--record-frame", type=int, help="first record frame of the slot")
    listing.add_argument("--frames", type=int, help="frame count of the slot")
    listing.add_argument("--job", help="only the takes a job made")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="print the server's JSON")
    listing.set_defaults(handler=list_command)

    rerender = commands.add_parser("rerender", help="make a new take of exactly a take's slot")
    _server_options(rerender)
    rerender.add_argument("take", metavar="ID", help="the take to re-render")
    rerender.add_argument("--seed", type=int)
    rerender.add_argument("--prompt")
    rerender.add_argument("--negative-prompt")
    rerender.add_argument("--engine", choices=("classical", "diffusers"))
    rerender.add_argument("--model", help="a model folder name (diffusers engine)")
    rerender.add_argument("--steps", type=int)
    rerender.add_argument("--guidance", type=float)
    rerender.add_argument("--wait", action="store_true", help="wait for the new take and print it")
    rerender.set_defaults(handler=rerender_command)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=os.environ.get("SHOTFORGE_SERVER", DEFAULT_SERVER),
                        help=f"the render server's URL (default {DEFAULT_SERVER} or SHOTFORGE_SERVER)")
    parser.add_argument("--token", default=os.environ.get("SHOTFORGE_TOKEN"), help="the server's bearer token")


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class NoServer(Exception):
    pass


def _call(args: argparse.Namespace, method: str, path: str, body: dict | None = None) -> dict:
    headers = {"Accept": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(args.server.rstrip("/") + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            raise Refused(exc.code, error["code"], error["message"]) from None
        except (ValueError, KeyError, TypeError):
            raise Refused(exc.code, "http_error", f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NoServer(f"no ShotForge server answers at {args.server}: {reason}") from None


def _run(args: argparse.Namespace, work) -> int:
    try:
        return work()
    except Refused as exc:
        print(f"shotforge takes: {exc.message} ({exc.code})", file=sys.stderr)
        return 2
    except NoServer as exc:
        print(f"shotforge takes: {exc}", file=sys.stderr)
        return 3


def describe(take: dict) -> str:
    slot = take["slot"]
    model = f" {take['model']}" if take["model"] != take["engine"] else ""
    kind = " placeholder" if take["placeholder"] else ""
    return (f"{take['id']}  V{slot['track'] + 1} frames {slot['record_frame']}-"
            f"{slot['record_frame'] + slot['frames'] - 1} ({slot['frames']})  {take['operation']}{kind}  "
            f"{take['engine']}{model}  seed {take['seed']}  {take['prompt']!r}  {take['media']}")


def list_command(args: argparse.Namespace) -> int:
    def work() -> int:
        query = {name: getattr(args, key) for name, key in (
            ("timeline", "timeline"), ("track", "track"), ("record_frame", "record_frame"), ("frames", "frames"),
            ("job", "job"), ("limit", "limit")) if getattr(args, key) is not None}
        answer = _call(args, "GET", "/v1/takes?" + urllib.parse.urlencode(query))
        if args.json:
            print(json.dumps(answer, indent=2))
        else:
            for take in answer["takes"]:
                print(describe(take))
            if not answer["takes"]:
                print("no takes", file=sys.stderr)
        return 0

    return _run(args, work)


def rerender_command(args: argparse.Namespace) -> int:
    def work() -> int:
        overrides = {key: getattr(args, key) for key in OVERRIDES if getattr(args, key) is not None}
        created = _call(args, "POST", f"/v1/takes/{urllib.parse.quote(args.take, safe='')}/rerender", overrides)
        print(f"job     {created['id']}")
        if not args.wait:
            return 0
        job = created
        while job.get("state") not in ("done", "failed", "canceled"):
            time.sleep(0.2)
            job = _call(args, "GET", f"/v1/jobs/{created['id']}")
        if job["state"] != "done":
            error = job.get("error") or {}
            print(f"shotforge takes: the re-render {job['state']}: {error.get('message', '')}", file=sys.stderr)
            return 1
        for take_id in job["result"]["takes"]:
            print(f"take    {describe(_call(args, 'GET', f'/v1/takes/{take_id}'))}")
        return 0

    return _run(args, work)
