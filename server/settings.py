"""The render server's settings: one typed place, filled from flags, environment and a config file.

Precedence, highest first: command-line flags (passed as keyword overrides), environment
variables ``SHOTFORGE_<NAME>`` (e.g. ``SHOTFORGE_PORT=9000``, ``SHOTFORGE_TOKEN=...``), the
config file, then the defaults below.

Config file: TOML. Its location is ``--config PATH``, else ``$SHOTFORGE_CONFIG``, else the
per-user default (:func:`default_config_path`): ``~/.config/shotforge/server.toml`` on Linux
(``$XDG_CONFIG_HOME`` honoured), ``~/Library/Application Support/ShotForge/server.toml`` on macOS,
``%APPDATA%\\ShotForge\\server.toml`` on Windows. A missing default file is fine; a missing
file that was named explicitly is an error. Example::

    host = "0.0.0.0"            # a LAN GPU box: needs a token
    port = 8765
    token = "long-random-string"
    output = "/mnt/media/shotforge"
    media_roots = ["/mnt/footage", "/mnt/media"]
    models = "/mnt/models"       # diffusers engine: one diffusers pipeline per subfolder
    cors_origins = ["null"]      # let the Premiere CEP panel (file:// page) use fetch
    max_job_memory_gb = 24       # bounds: refuse a job whose frames would need more
    keep_jobs_days = 14          # retention: finished job records (media stays unless prune_outputs)
    [ray]                        # the render farm: engines run on this Ray cluster's workers
    address = "auto"
    [[path_map]]
    editor = 'Z:\\Footage'
    server = "/mnt/footage"
    [[path_map]]
    editor = "/Volumes/Media"
    server = "/mnt/media"

In the environment, list settings take JSON (``SHOTFORGE_MEDIA_ROOTS='["/a","/b"]'``) or, for
``media_roots``, ``cors_origins`` and ``allowed_hosts``, a plain list split on ``os.pathsep``
(``:``/``;``) or commas respectively; ``SHOTFORGE_PATH_MAP`` takes JSON or
``EDITOR=SERVER`` rules separated by ``|``.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MIN_TOKEN_CHARS = 16  # off loopback: a guessable token is no lock (wrong tokens are throttled too)

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("shotforge_config_file", default=None)


class SettingsError(ValueError):
    """The settings cannot be used as given (bad config file, unsafe combination)."""


def default_config_path() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "ShotForge" / "server.toml"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "ShotForge" / "server.toml"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "shotforge" / "server.toml"


def default_output() -> Path:
    return Path.home() / "ShotForge" / "renders"


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class PathMapRule(BaseModel):
    """One media path mapping: a folder as the editor's machine names it, and as the server does."""

    editor: str = Field(description=r"Prefix as the editor's machine sees it, e.g. 'Z:\Footage' or '/Volumes/Media'")
    server: str = Field(description="The same folder as this server sees it, e.g. '/mnt/footage'")

    @classmethod
    def parse(cls, text: str) -> "PathMapRule":
        """``EDITOR=SERVER`` (the form used by ``--path-map``)."""
        editor, sep, server = text.partition("=")
        if not sep or not editor.strip() or not server.strip():
            raise SettingsError(f"path mapping {text!r} must look like EDITOR_PREFIX=SERVER_PREFIX")
        return cls(editor=editor.strip(), server=server.strip())


def _split_list(value: Any, seps: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        for sep in seps:
            if sep in text:
                return [part.strip() for part in text.split(sep) if part.strip()]
        return [text] if text else []
    return value


class ServerSettings(BaseSettings):
    """Everything the server, the watch folder and their safety checks need."""

    model_config = SettingsConfigDict(env_prefix="SHOTFORGE_", extra="ignore", validate_default=True)

    host: str = Field(DEFAULT_HOST, description="Interface to listen on. Anything but loopback requires a token.")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="TCP port (0: pick a free one and print it)")
    output: Path = Field(default_factory=default_output, description="The only folder the server writes to")
    data_dir: Path | None = Field(None, description="Job database and lock; default <output>/.shotforge")
    media_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders request media must resolve inside. Empty: anything readable, loopback only.")
    token: SecretStr | None = Field(None, description="Bearer token required on every /v1 route but /v1/health")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API. Empty by default; add 'null' for a CEP panel "
                    "(file:// page) that uses fetch.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra Host header names accepted when no token is set (DNS rebinding guard)")
    path_map: Annotated[list[PathMapRule], NoDecode] = Field(
        default_factory=list, description="Media path mapping rules between the editor's machine and this one")
    workers: int = Field(1, ge=1, le=16, description="Jobs rendered at once (one per GPU)")
    max_queue: int = Field(32, ge=1, le=100000, description="Queued jobs accepted before POST answers 429")
    cancel_grace_s: float = Field(30.0, ge=1, le=3600, description="Seconds a canceled job's engine may go on "
                                  "before the job is marked canceled anyway and a new worker takes the queue (a "
                                  "model load cannot be interrupted)")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest request body accepted")
    # -- bounds: what one job may ask of this machine (see server/limits.py) ------------------------
    max_frames: int = Field(7200, ge=1, le=36000, description="Most frames one job may make (7200: five minutes "
                                                              "at 24 fps)")
    max_canvas_side: int = Field(4096, ge=16, le=8192, description="Widest or tallest picture (an outpaint canvas, "
                                                                   "a generated frame) one job may make, in pixels")
    max_prompt_chars: int = Field(4000, ge=1, le=1_000_000, description="Longest prompt or negative prompt, in "
                                                                        "characters")
    max_job_memory_gb: float | None = Field(
        None, gt=0, description="Memory one job's frames may take, by the server's estimate before it starts; "
                                "default half of this machine's memory")
    min_free_disk_gb: float = Field(2.0, ge=0, description="Free space the output folder must keep after a job's "
                                                           "media is written, by the estimate before it starts")
    # -- retention (see server/retention.py) --------------------------------------------------------
    keep_jobs_days: float | None = Field(30.0, gt=0, description="Finished job records older than this are "
                                                                 "removed; unset: kept by age forever")
    keep_jobs_gb: float | None = Field(1.0, gt=0, description="Finished job records beyond this much database "
                                                              "text are removed, oldest first; unset: no size cap")
    prune_outputs: bool = Field(False, description="Also delete the output folder of a removed job record, unless "
                                                   "a kept job's request or take still names its media. Off: "
                                                   "rendered media is never deleted")
    # -- connections (see server/http/connections.py) ---------------------------------------------
    keep_alive_timeout: float = Field(5.0, gt=0, le=3600, description="Seconds an idle keep-alive connection "
                                                                      "stays open between requests")
    header_timeout: float = Field(10.0, gt=0, le=3600, description="Seconds a request's header may take to "
                                                                  "arrive, from its first byte; then 408")
    body_timeout: float = Field(60.0, gt=0, le=86400, description="Seconds a request's body may take to arrive, "
                                                                 "after its header; then 408")
    max_connections: int = Field(200, ge=2, le=100000, description="Connections open at once (fewer when the "
                                 "open-file limit is low); beyond it the longest-idle connection is closed")
    backlog: int = Field(128, ge=1, le=65535, description="Connections the OS queues before they are accepted")
    log_flood_interval: float = Field(10.0, gt=0, description="Repeats of one warning or error are logged once "
                                                              "per this many seconds, with a count")
    output_format: Literal["prores", "h264"] = "prores"
    watch: Path | None = Field(None, description="Also run this watch folder (in/, out/, failed/)")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # -- the diffusers engine (read only when it is used; see server/engines/diffusers.py) --------
    models: Path | None = Field(
        None, description="Folder of open video models for the diffusers engine: one diffusers-format pipeline "
                          "per subfolder (recognised by its model_index.json). Never downloaded.")
    hf_cache: bool = Field(True, description="Also use models already in the local Hugging Face cache "
                                             "(read offline; nothing is ever downloaded)")
    diffusers_device: str = Field(
        "auto", description="'auto' (a CUDA GPU if there is one, else the CPU for small test models only), "
                            "'cuda', 'cuda:N', 'mps' or 'cpu' (forces the CPU for any model: very slow)")
    diffusers_offload: Literal["auto", "none", "model", "group"] = Field(
        "auto", description="GPU memory strategy: 'auto' picks by free memory; 'none' keeps the whole pipeline on "
                            "the GPU; 'model' moves whole components in and out; 'group' streams transformer "
                            "blocks (least memory, slowest)")
    diffusers_fast: bool = Field(
        False, description="Opt-in fast path: torch.compile of the transformer, the fastest attention backend "
                           "installed, and a First-Block step cache (slightly different frames)")
    # -- the render farm (read only with --ray; see server/farm/) --------------------------------
    ray_address: str | None = Field(
        None, description="Run jobs' engines on this Ray cluster: 'auto' (the cluster this machine is part of) "
                          "or HEAD:PORT. Unset: in this process. In the config file also [ray] address = ...")
    ray_classical_cpus: int = Field(1, ge=1, le=1024, description="CPUs one classical-engine worker takes on a "
                                                                   "Ray node (one job at a time each)")
    ray_max_retries: int = Field(3, ge=0, le=100, description="Times a job runs again after its Ray worker was "
                                                              "lost, or the server stopped mid-job, before it fails")
    ray_cancel_grace_s: float = Field(30.0, ge=1, le=3600, description="Seconds a Ray worker's engine may go on "
                                      "after its job was canceled before the worker is ended and a new one started "
                                      "(a GPU worker then loads its model again)")

    @field_validator("media_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        return _split_list(value, (os.pathsep, ","))

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return _split_list(value, (",", " "))

    @field_validator("path_map", mode="before")
    @classmethod
    def _maps(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p for p in text.split("|") if p.strip()]
        if isinstance(value, list):
            return [PathMapRule.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("output", "data_dir", "watch", "models", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(os.path.abspath(os.path.expanduser(value)))

    @field_validator("media_roots", mode="after")
    @classmethod
    def _absolute_roots(cls, value: list[Path]) -> list[Path]:
        return [Path(os.path.abspath(os.path.expanduser(v))) for v in value]

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # -- derived values -------------------------------------------------------------------------
    @property
    def database_dir(self) -> Path:
        return self.data_dir or self.output / ".shotforge"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def job_memory_limit(self) -> int | None:
        """Bytes one job may hold: the setting, else half the physical memory (None if unknown)."""
        if self.max_job_memory_gb is not None:
            return int(self.max_job_memory_gb * 1e9)
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
        except (AttributeError, ValueError, OSError):  # Windows has no sysconf
            return None

    @property
    def token_value(self) -> str | None:
        return self.token.get_secret_value() if self.token else None

    def effective_media_roots(self) -> list[Path]:
        """Roots to enforce: the configured ones; off loopback without any, the path-map server sides."""
        if self.media_roots:
            return list(self.media_roots)
        if not self.loopback:
            return [Path(rule.server) for rule in self.path_map]
        return []

    def check_safe(self) -> None:
        """Refuse combinations that would expose the machine: raise :class:`SettingsError`."""
        if not self.loopback:
            if not self.token_value:
                raise SettingsError(
                    f"listening on {self.host} (not loopback) requires a token: pass --token or set SHOTFORGE_TOKEN")
            if len(self.token_value) < MIN_TOKEN_CHARS:
                raise SettingsError(
                    f"listening on {self.host} (not loopback) requires a token of at least {MIN_TOKEN_CHARS} "
                    f"characters (this one has {len(self.token_value)}); make one with: python -c \"import secrets; "
                    "print(secrets.token_urlsafe(24))\"")
            if not self.effective_media_roots():
                raise SettingsError(
                    f"listening on {self.host} (not loopback) requires --media-root (or path_map rules): "
                    "clients on the network may only read media under configured folders")
        if "*" in self.cors_origins and not self.token_value:
            raise SettingsError("cors_origins '*' lets any web page drive the server; it requires a token")


class _TomlSource(PydanticBaseSettingsSource):
    """The config file, lowest precedence above the defaults."""

    def __init__(self, settings_cls):
        super().__init__(settings_cls)
        explicit = _config_file.get()
        env = os.environ.get("SHOTFORGE_CONFIG")
        path = explicit or (Path(env) if env else None)
        self.path = Path(os.path.expanduser(path)) if path else default_config_path()
        self.data: dict[str, Any] = {}
        if self.path.is_file():
            try:
                with open(self.path, "rb") as fh:
                    self.data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"config file {self.path} cannot be read: {exc}") from None
        elif path is not None:
            raise SettingsError(f"config file {self.path} does not exist")

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ does the work
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        data = dict(self.data)
        section = data.pop("ray", None)  # [ray] address = ..., the same as ray_address = ...
        if isinstance(section, dict):
            data.update({f"ray_{k}": v for k, v in section.items()})
        return {k: v for k, v in data.items() if k in self.settings_cls.model_fields}


_active: ServerSettings | None = None


def activate(settings: ServerSettings | None) -> None:
    """Make ``settings`` the ones this process's engines read (``serve``, ``watch``, ``render --models``)."""
    global _active
    _active = settings


def active_settings() -> ServerSettings:
    """The settings engines use: those activated by the command that started this process, else the
    environment and config file. Raises :class:`SettingsError` when those cannot be read."""
    return _active if _active is not None else load_settings()


def load_settings(config: str | os.PathLike | None = None, **overrides: Any) -> ServerSettings:
    """Build the settings. ``overrides`` are flag values; ``None`` means "not given"."""
    given = {k: v for k, v in overrides.items() if v is not None and v != []}
    token = _config_file.set(Path(config) if config else None)
    try:
        return ServerSettings(**given)
    except SettingsError:
        raise
    except ValueError as exc:  # pydantic ValidationError, JSON errors in the environment
        raise SettingsError(f"invalid server settings: {exc}") from None
    finally:
        _config_file.reset(token)
