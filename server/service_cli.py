"""``shotforge serve`` and ``shotforge watch``: the long-running parts of the command line.

``server.cli`` calls :func:`register` to add both subcommands; ``python -m server.service_cli``
runs them on their own too.

``shotforge serve [--host H] [--port P] [--output DIR] [--media-root DIR ...] [--token T]
[--config FILE] [--watch DIR] [--cors-origin O ...] [--path-map EDITOR=SERVER ...] [...]``
starts the HTTP server (127.0.0.1:8765 by default) and prints one line,
``ShotForge server listening on http://HOST:PORT`` (the real port when ``--port 0``), once it
accepts connections. Exit codes: 0 stopped normally, 2 unusable settings (e.g. a non-loopback
host without a token), 3 another server already uses the data folder, 4 the port is taken, 5 the
Ray cluster of ``--ray`` cannot be joined. ``--ray auto|ADDRESS`` (setting ``ray_address``) runs
the jobs' engines on a Ray cluster (:mod:`server.farm`); ``shotforge doctor --ray ...`` shows it.

``shotforge watch DIR`` runs a watch folder without HTTP: jobs are recorded in
``DIR/.shotforge/`` and results written under ``DIR/out/``. ``--once`` processes what is in
``DIR/in/`` now, waits for it to finish and exits: 0 when every request was done, 1 when any
failed. SIGINT or SIGTERM stops either command cleanly (a running job goes back to the queue);
``watch`` then exits 128 + the signal number (130, 143), as a shell reports a killed command.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from server.settings import SettingsError, activate, load_settings


def register(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="run the render server (HTTP API for the editor plugins)",
                                  description="Run the render server. Settings come from these flags, "
                                  "SHOTFORGE_* environment variables and a TOML config file, in that order.")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1; others need --token)")
    serve.add_argument("--port", type=int, help="TCP port (default 8765; 0 picks a free one)")
    serve.add_argument("--output", help="folder for results (the only place the server writes)")
    serve.add_argument("--media-root", action="append", dest="media_roots", metavar="DIR",
                       help="media must be inside this folder (repeatable); default: anything readable, loopback only")
    serve.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (or set SHOTFORGE_TOKEN)")
    _common(serve)
    serve.add_argument("--watch", metavar="DIR", help="also run a watch folder (DIR/in, DIR/out, DIR/failed)")
    serve.add_argument("--cors-origin", action="append", dest="cors_origins", metavar="ORIGIN",
                       help="browser origin allowed to call the API (repeatable); 'null' for a CEP panel page")
    serve.add_argument("--allowed-host", action="append", dest="allowed_hosts", metavar="NAME",
                       help="extra Host name accepted without a token (repeatable)")
    serve.add_argument("--workers", type=int, help="jobs rendered at once (default 1)")
    serve.add_argument("--max-queue", type=int, help="queued jobs accepted before 429 (default 32)")
    serve.add_argument("--ray", dest="ray_address", metavar="auto|ADDRESS",
                       help="run the engines on a Ray cluster: 'auto' (the one this machine is part of) or "
                            "HEAD:PORT (needs the ray extra: pip install 'shotforge[ray]')")
    serve.set_defaults(handler=serve_command)

    doctor = subparsers.choices.get("doctor")  # `shotforge doctor` is server.cli's; the cluster part is added here
    if doctor is not None:
        doctor.add_argument("--ray", dest="ray_address", metavar="auto|ADDRESS",
                            help="also show this Ray cluster: its nodes, workers and their warm models "
                                 "(default: the ray_address setting)")
        doctor.add_argument("--config", metavar="FILE", help="TOML config file (for its ray_address)")
        doctor.set_defaults(handler=_doctor_with_farm(doctor.get_default("handler")))

    watch = subparsers.add_parser("watch", help="run a watch folder: requests dropped in DIR/in are rendered",
                                  description="Render every request .otio dropped into DIR/in/ once: results go "
                                  "to DIR/out/NAME/, failures to DIR/failed/NAME.json.")
    watch.add_argument("dir", metavar="DIR", help="the watch folder (in/, out/, failed/ are made inside)")
    watch.add_argument("--media-root", action="append", dest="media_roots", metavar="DIR",
                       help="media must be inside this folder (repeatable)")
    _common(watch)
    watch.add_argument("--once", action="store_true", help="process what is in DIR/in now, then exit")
    watch.set_defaults(handler=watch_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: the per-user server.toml)")
    parser.add_argument("--path-map", action="append", dest="path_map", metavar="EDITOR=SERVER",
                        help=r"media path mapping rule, e.g. 'Z:\Footage=/mnt/footage' (repeatable)")
    parser.add_argument("--format", dest="output_format", choices=("prores", "h264"),
                        help="media format of results (default prores)")
    parser.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"))
    parser.add_argument("--models", metavar="DIR",
                        help="folder of diffusers-format video models for the diffusers engine "
                             "(one pipeline per subfolder; or set SHOTFORGE_MODELS)")


def _settings(args: argparse.Namespace, **extra):
    fields = ("host", "port", "output", "media_roots", "token", "cors_origins", "allowed_hosts", "path_map",
              "workers", "max_queue", "output_format", "watch", "log_level", "models", "ray_address")
    overrides = {name: getattr(args, name, None) for name in fields}
    overrides.update(extra)
    settings = load_settings(getattr(args, "config", None), **overrides)
    activate(settings)  # the engines of this process read these (models folder, device, ...)
    return settings


def _setup_logging(settings) -> None:
    from server.http.connections import install_flood_filter

    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("shotforge").setLevel(settings.log_level.upper())
    install_flood_filter(settings.log_flood_interval)


def _fail(message: str, code: int) -> int:
    print(f"shotforge: {message}", file=sys.stderr)
    return code


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.http.connections import uvicorn_config
    from server.jobs import AlreadyRunning

    try:
        settings = _settings(args)
        settings.check_safe()
    except SettingsError as exc:
        return _fail(str(exc), 2)
    _setup_logging(settings)
    try:
        sock = _bind(settings.host, settings.port, settings.backlog)
    except OSError as exc:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", 4)
    try:
        app = create_app(settings)  # takes the data folder's lock, before any farm worker holds a GPU
    except AlreadyRunning as exc:
        sock.close()
        return _fail(str(exc), 3)
    farm = None
    if settings.ray_address:
        from server.farm import Farm, FarmError

        try:
            farm = Farm.from_settings(settings)
        except FarmError as exc:
            sock.close()
            return _fail(str(exc), 5)
        app.state.shotforge.manager.use_backend(farm)
        print(f"ShotForge render farm: Ray cluster at {settings.ray_address}, {farm.slots()} worker(s)", flush=True)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(uvicorn_config(app, settings))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started:
            print(f"ShotForge server listening on http://{shown}:{port} (output {settings.output}; "
                  f"docs http://{shown}:{port}/docs)", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    finally:
        if farm is not None:  # the jobs are stopped (the app's shutdown): end the hosts on the workers
            farm.close()
    return 0


def _doctor_with_farm(plain):
    """``shotforge doctor``, then the Ray cluster's lines when one is named (flag or setting)."""

    def doctor(args: argparse.Namespace) -> int:
        code = plain(args)
        try:
            address = load_settings(args.config, ray_address=args.ray_address).ray_address
        except SettingsError as exc:
            return _fail(str(exc), 2)
        if not address:
            print("ray        not used (serve --ray auto|ADDRESS runs the engines on a Ray cluster)")
            return code
        from server.farm import Farm, FarmError

        try:
            farm = Farm(address, hosts=False)
            try:
                print("\n".join(farm.report()))
            finally:
                farm.close()
        except FarmError as exc:
            print(f"ray        {exc}")
            return 1
        return code

    return doctor


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name != "nt":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def watch_command(args: argparse.Namespace) -> int:
    from server.app import build_manager
    from server.jobs import AlreadyRunning, FolderLock
    from server.watch import WatchFolder

    root = Path(os.path.abspath(os.path.expanduser(args.dir)))
    try:
        settings = _settings(args, output=str(root / "out"), data_dir=str(root / ".shotforge"), host="127.0.0.1")
    except SettingsError as exc:
        return _fail(str(exc), 2)
    _setup_logging(settings)
    try:
        lock = FolderLock(settings.database_dir / "server.lock").acquire()
    except AlreadyRunning as exc:
        return _fail(str(exc), 3)
    manager, _ = build_manager(settings)
    watcher = WatchFolder(root, manager)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    failed = False
    try:
        manager.start()
        watcher.start()
        print(f"ShotForge watching {watcher.inbox} (results in {watcher.outbox}, failures in {watcher.failed})",
              flush=True)
        if args.once:
            start = time.monotonic()
            # Give files a chance to settle and be taken before deciding the folder is idle.
            while not stop.is_set():
                if time.monotonic() - start > watcher.settle * 2 + 0.5 and not watcher.busy():
                    break
                stop.wait(0.2)
            failed = any(state != "done" for state in watcher.results.values())
        else:
            stop.wait()
    finally:
        watcher.stop()
        manager.stop(10.0)
        manager.store.close()
        lock.release()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        return 128 + received[0]
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shotforge")
    register(parser.add_subparsers(title="commands", required=True))
    args = parser.parse_args(argv)
    return args.handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
