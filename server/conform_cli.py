"""``shotforge conform TIMELINE --out DIR``: re-render an exported timeline's placeholders with a model.

Runs without a server, like ``render``: one progress bar over the whole conform, one line per
take that failed (clip, track, record frame, reason). An interchange timeline (FCP7 XML, EDL, AAF)
is also written back in its own format beside result.otio. Exit codes: 0 every take conformed (or
none to conform), 1 any take failed or the result could not be written in the timeline's format,
2 the timeline or the settings cannot be used, 130 canceled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    conform = subparsers.add_parser(
        "conform", help="re-render the ShotForge placeholders of an exported timeline with a model",
        description="Find every ShotForge take in TIMELINE (placeholders first; the classical engine's other "
                    "results with --include-classical), make each again from its recipe with the engine and model "
                    "given, and write DIR/result.otio with the new takes in the same slots and DIR/job.json.")
    conform.add_argument("timeline", metavar="TIMELINE", help="an exported timeline: .otio, or any interchange "
                         "format an installed OTIO adapter reads (.xml, .edl, .aaf, ...)")
    conform.add_argument("--out", required=True, metavar="DIR", help="folder for the new takes, result.otio, job.json")
    conform.add_argument("--engine", choices=("diffusers", "classical"), default="diffusers",
                         help="engine for the new takes (default diffusers)")
    conform.add_argument("--model", help="model folder name (default: the best model for each operation)")
    conform.add_argument("--include-classical", action="store_true",
                         help="also re-render the classical engine's results (gap fills, extensions, outpaints)")
    conform.add_argument("--models", metavar="DIR", help="folder of diffusers-format video models "
                         "(default: the server setting / SHOTFORGE_MODELS)")
    conform.add_argument("--format", choices=("prores", "h264"), default="prores", help="media format of new takes")
    conform.add_argument("--rate", help="an EDL's frame rate (EDLs do not say it), e.g. 25 or 23.976")
    conform.add_argument("--path-map", action="append", dest="path_map", metavar="EDITOR=SERVER",
                         help="map the editor machine's media paths to this machine's (repeatable), e.g. "
                              "'/Volumes/Footage=/mnt/footage'; new takes are named back in the editor's paths")
    conform.set_defaults(handler=conform_command)


def conform_command(args: argparse.Namespace) -> int:
    from otio_tools.errors import ShotForgeError
    from otio_tools.interchange import parse_rate
    from server.conform import conform
    from server.engines.base import Canceled
    from server.paths import PathMapper
    from server.progress import ProgressBar
    from server.settings import SettingsError, activate, load_settings

    try:  # the models folder and path mapping as flags, SHOTFORGE_* and the config file say
        settings = load_settings(models=args.models, path_map=args.path_map)
        activate(settings)
    except SettingsError as exc:
        print(f"shotforge conform: {exc}", file=sys.stderr)
        return 2
    try:
        rate = parse_rate(args.rate) if args.rate else None
        with ProgressBar(f"conform {Path(args.timeline).name}") as bar:
            report = conform(args.timeline, Path(args.out), engine=args.engine, model=args.model,
                             include_classical=args.include_classical, output_format=args.format,
                             on_progress=bar.update, edl_rate=rate, mapper=PathMapper.from_settings(settings))
    except ShotForgeError as exc:
        print(f"shotforge conform: {exc.message}", file=sys.stderr)
        return 2
    except (Canceled, KeyboardInterrupt):
        print("shotforge conform: canceled; nothing of this conform was kept", file=sys.stderr)
        return 130
    for take in report.takes:
        print(f"take    {take['clip']} on V{take['track'] + 1} at record frame {take['record_frame']} "
              f"({take['frames']} frames): {take['media']}")
    for left in report.left:
        print(f"left    {left['clip']} on V{left['track'] + 1} at record frame {left['record_frame']}: {left['why']}")
    for failed in report.failed:
        print(f"shotforge conform: FAILED clip '{failed['clip']}' on video track {failed['track']} "
              f"(V{failed['track'] + 1}) at record frame {failed['record_frame']}: {failed['reason']}",
              file=sys.stderr)
    print(f"result  {report.otio}")
    interchange = report.interchange or {}
    if "path" in interchange:
        print(f"result  {interchange['path']} ({interchange['format']})")
    elif interchange:
        print(f"shotforge conform: FAILED {interchange['error']}", file=sys.stderr)
    print(f"job     {Path(args.out) / 'job.json'}")
    if not report.takes and not report.failed:
        print("shotforge conform: no placeholders to conform" + ("" if args.include_classical else
              " (--include-classical also conforms the classical engine's results)"), file=sys.stderr)
    return 1 if report.failed or "error" in interchange else 0
