"""``shotforge batch TIMELINE --out DIR --fill-gaps-up-to N [--tracks ...]``: a whole timeline in one run.

Every gap of at most N frames is filled, every clip marked ``sf extend tail 24`` is extended, every
duration marker noted ``sf generate: <prompt>`` is generated over its range (:mod:`otio_tools.batch`).
The items are jobs in a job store in ``DIR/.shotforge/``, rendered one at a time, with one progress
bar over the batch. Run the same command again after a crash or Ctrl-C and it carries on: done items
are kept, the rest are rendered. Exit codes: 0 every item done, 1 any item failed or a marker asks for
what cannot be done, 2 the timeline, the options or DIR cannot be used, 3 DIR is in use, 130 canceled.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    batch = subparsers.add_parser(
        "batch", help="fill every short gap and render every ShotForge marker of a timeline in one run",
        description="Fill every gap of at most N frames, extend every clip with an 'sf extend tail|head FRAMES' "
                    "marker, generate every duration marker noted 'sf generate: PROMPT'; write DIR/result.otio "
                    "with every result and DIR/job.json. Running it again on the same DIR resumes.")
    batch.add_argument("timeline", metavar="TIMELINE", help="an exported timeline: .otio, or any interchange format "
                       "an installed OTIO adapter reads (.xml, .edl, .aaf, ...); the result is written in it too")
    batch.add_argument("--out", required=True, metavar="DIR", help="folder for the items, result.otio and job.json")
    batch.add_argument("--fill-gaps-up-to", type=int, default=0, metavar="N",
                       help="fill every gap between two clips of at most N frames (default 0: none)")
    batch.add_argument("--tracks", type=int, nargs="+", metavar="T",
                       help="only these 0-based video tracks (default: all)")
    batch.add_argument("--engine", choices=("auto", "classical", "diffusers"), default="auto")
    batch.add_argument("--models", metavar="DIR", help="folder of diffusers-format video models")
    batch.add_argument("--format", dest="output_format", choices=("prores", "h264"), default="prores")
    batch.add_argument("--rate", help="an EDL's frame rate (EDLs do not say it), e.g. 25 or 23.976")
    batch.set_defaults(handler=batch_command)


def batch_command(args: argparse.Namespace) -> int:
    from otio_tools.errors import RequestError
    from otio_tools.interchange import parse_rate, read_any
    from server.app import build_manager
    from server.batch import Batches
    from server.jobs import AlreadyRunning, FolderLock
    from server.progress import ProgressBar
    from server.settings import SettingsError, activate, load_settings

    if args.fill_gaps_up_to < 0:
        return _fail("--fill-gaps-up-to must be 0 or more frames", 2)
    root = Path(args.out).absolute()
    try:
        timeline, adapter = read_any(args.timeline, parse_rate(args.rate) if args.rate else None)
        settings = load_settings(None, output=str(root / "items"), data_dir=str(root / ".shotforge"),
                                 host="127.0.0.1", models=args.models, output_format=args.output_format)
        activate(settings)
    except (RequestError, SettingsError) as exc:
        return _fail(getattr(exc, "message", str(exc)), 2)
    try:
        lock = FolderLock(settings.database_dir / "server.lock").acquire()
    except AlreadyRunning as exc:
        return _fail(str(exc), 3)
    manager, _ = build_manager(settings)
    batches = Batches(manager)
    # One batch per DIR and command: the same timeline and options resume it, others are refused.
    name = "cli:" + hashlib.sha256(json.dumps([Path(args.timeline).read_bytes().hex(), args.fill_gaps_up_to,
                                               args.tracks, args.engine, args.rate]).encode()).hexdigest()[:16]
    try:
        manager.start()
        batch = batches.by_name(name)
        if batch is None and batches.unfinished():
            return _fail(f"{root} holds an unfinished batch of another timeline or other options; use another "
                         "--out", 2)
        if batch is None:
            batch = batches.create(timeline, root, fill_gaps_up_to=args.fill_gaps_up_to, tracks=args.tracks,
                                   engine=args.engine, name=name, source=(adapter, str(args.timeline)))
        else:
            batches.resume(batch)
        for problem in batch.problems:
            print(f"shotforge batch: {problem['where']}: {problem['reason']}", file=sys.stderr)
        with ProgressBar(f"batch {Path(args.timeline).name} ({len(batch.items)} items)") as bar:
            while True:
                batch = batches.get(batch.id)
                finished = sum(j is None or j.terminal for j in batches.item_jobs(batch))  # refused: finished
                bar.update(batches.progress(batch), f"{finished}/{len(batch.items)} done")
                if batch.state == "done":
                    break
                time.sleep(0.2)
    except KeyboardInterrupt:
        print("shotforge batch: stopped; run the same command again to carry on", file=sys.stderr)
        return 130
    except RequestError as exc:
        return _fail(exc.message, 2)
    finally:
        manager.stop(10.0)
        manager.store.close()
        lock.release()
    result = batch.result
    for failed in result["failed"]:
        print(f"shotforge batch: FAILED {failed['where']}: {failed['message']}", file=sys.stderr)
    print(f"result  {result['otio']}")
    interchange = result.get("interchange") or {}
    if "path" in interchange:
        print(f"result  {interchange['path']} ({interchange['format']})")
    elif interchange:
        print(f"shotforge batch: FAILED {interchange['error']}", file=sys.stderr)
    print(f"job     {root / 'job.json'}")
    return 1 if result["failed"] or result["problems"] or "error" in interchange else 0


def _fail(message: str, code: int) -> int:
    print(f"shotforge batch: {message}", file=sys.stderr)
    return code
