"""The ``shotforge`` command: render, doctor, demo, the server's serve/watch, and the plugins'
installers and Resolve Lua bridge.

Start-up imports nothing heavy (no torch, no OpenCV): each subcommand imports what it needs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    return args.handler(args) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shotforge", description="Generative extend, gap fill, outpaint, inpaint "
                                     "and B-roll for editors, rendered locally.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(title="commands")

    render = commands.add_parser("render", help="run one request (.otio) without a server")
    render.add_argument("request", help="a request timeline (.otio with metadata.shotforge)")
    render.add_argument("--out", required=True, help="folder for the media, result.otio and job.json")
    render.add_argument("--format", choices=("prores", "h264"), default="prores",
                        help="media format: 10-bit ProRes 422 HQ .mov (default) or H.264 .mp4")
    render.add_argument("--engine", choices=("auto", "classical", "diffusers"),
                        help="override the request's engine")
    render.add_argument("--models", metavar="DIR", help="folder of diffusers-format video models "
                        "(default: the server setting / SHOTFORGE_MODELS)")
    render.set_defaults(handler=_render)

    doctor = commands.add_parser("doctor", help="say which engines and codecs are usable here, and why not")
    doctor.add_argument("--models", metavar="DIR", help="folder of diffusers-format video models to check "
                        "(default: the server setting / SHOTFORGE_MODELS)")
    doctor.set_defaults(handler=_doctor)

    demo = commands.add_parser("demo", help="render a gap fill, an extension, an outpaint and a generate "
                                            "from the bundled sample on the classical engine")
    demo.add_argument("--out", default="shotforge-demo", help="folder for the demo's requests and results")
    demo.set_defaults(handler=_demo)

    for module in ("server.service_cli", "server.takes_cli", "server.conform_cli", "server.batch_cli",
                   "plugins.resolve.install", "plugins.resolve.shotforge_resolve.bridge", "plugins.premiere_cep.install"):
        _register_optional(commands, module)
    return parser


def _register_optional(commands, module_name: str) -> None:
    """Subcommands that live with their part of the project (server, plugin installers)."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return  # that part is not installed in this checkout
        raise
    module.register(commands)


def _use_models(args: argparse.Namespace, command: str) -> bool:
    """Activate the settings with ``--models`` for this process's engines; False (after saying why) if unusable."""
    if not getattr(args, "models", None):
        return True
    if not Path(args.models).is_dir():
        print(f"shotforge {command}: --models {args.models} is not a folder (give the folder that holds one "
              "diffusers-format model per subfolder)", file=sys.stderr)
        return False
    from server.settings import SettingsError, activate, load_settings

    try:
        activate(load_settings(models=args.models))
    except SettingsError as exc:
        print(f"shotforge {command}: {exc}", file=sys.stderr)
        return False
    return True


def _unwritable_folder(folder: Path) -> str | None:
    """Why the results cannot be written into ``folder`` (made if missing), or None."""
    if folder.exists() and not folder.is_dir():
        return "is a file, not a folder"
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def _render(args: argparse.Namespace) -> int:
    import dataclasses

    from otio_tools import read_request
    from otio_tools.errors import ShotForgeError
    from server.engines.base import Canceled, EngineUnavailable
    from server.progress import ProgressBar
    from server.render import plan_job, run_job

    if not _use_models(args, "render"):
        return 2
    problem = _unwritable_folder(Path(args.out))
    if problem:
        print(f"shotforge render: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    try:
        timeline, request = read_request(args.request)
        if args.engine:
            request = dataclasses.replace(request, engine=args.engine)
        job_plan = plan_job(timeline, request)
        with ProgressBar(request.describe()) as bar:
            outcome = run_job(job_plan, Path(args.out), on_progress=bar.update, output_format=args.format)
    except ShotForgeError as exc:
        print(f"shotforge render: {args.request}: {exc.message}", file=sys.stderr)
        return 2
    except EngineUnavailable as exc:
        print(f"shotforge render: engine {exc.engine} cannot run here: {exc.reason}", file=sys.stderr)
        return 3
    except (Canceled, KeyboardInterrupt):
        print("shotforge render: canceled; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:  # the disk filled, or the folder went away mid-job: nothing half-written is kept
        print(f"shotforge render: cannot write into {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for path in outcome.media:
        print(f"media   {path}")
    print(f"result  {outcome.otio}")
    print(f"job     {Path(args.out) / 'job.json'}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from server.doctor import report

    if not _use_models(args, "doctor"):
        return 2
    lines, usable = report()
    print("\n".join(lines))
    return 0 if usable else 1


def _demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    return run_demo(Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
