"""The settings table of docs/settings.md, made from the server's settings model.

    python scripts/settings_doc.py           rewrite the table in docs/settings.md
    python scripts/settings_doc.py --check   exit 1 when the table is not what the model says

tests/test_docs.py runs the check, so a setting added, renamed or given a new default in
server/settings.py fails the tests until the table is made again. Only the part between the two
markers is generated; the rest of docs/settings.md is written by hand.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.settings import ServerSettings  # noqa: E402  (the checkout's, not an installed copy)

DOC = ROOT / "docs" / "settings.md"
BEGIN = "<!-- settings table: made by scripts/settings_doc.py from server/settings.py; do not edit by hand -->"
END = "<!-- end of the settings table -->"


def kind(annotation: Any) -> str:
    """A setting's type in words."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return kind(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [kind(a) for a in args if a is not type(None)]
        return " or ".join(kinds)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {kind(args[0])}s"
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return "true/false"
        if issubclass(annotation, int):
            return "whole number"
        if issubclass(annotation, float):
            return "number"
        if issubclass(annotation, Path):
            return "folder"
        if issubclass(annotation, SecretStr):
            return "secret text"
        if issubclass(annotation, Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, BaseModel):
            return "{" + ", ".join(annotation.model_fields) + "} rule"
        if issubclass(annotation, str):
            return "text"
    return str(annotation)


def bounds(field) -> str:
    """The range a number must be in, from its ``ge``/``gt``/``le``/``lt`` constraints, in words."""
    limits = {}
    for item in field.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                limits[name] = f"{getattr(item, name):,}"
    low = ("at least " + limits["ge"]) if "ge" in limits else ("over " + limits["gt"]) if "gt" in limits else ""
    high = ("at most " + limits["le"]) if "le" in limits else ("under " + limits["lt"]) if "lt" in limits else ""
    if "ge" in limits and high.startswith("at most"):
        return f"{limits['ge']} to {limits['le']}"
    return ", ".join(part for part in (low, high) if part)


def default(field) -> str:
    """The default as a config file would write it; a path under the home folder starts with ``~``."""
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        home = Path.home()
        shown = "~/" + value.relative_to(home).as_posix() if value.is_relative_to(home) else value.as_posix()
        return f"`{shown}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list):
        return "`[]`" if not value else f"`{value!r}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def cell(text: str) -> str:
    """One table cell: one line, no pipe, no angle bracket taken for an HTML tag."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def table() -> str:
    prefix = ServerSettings.model_config.get("env_prefix", "")
    rows = ["| Setting (config file) | Environment variable | Default | Value | What it does |",
            "|---|---|---|---|---|"]
    for name, field in ServerSettings.model_fields.items():
        value = kind(field.annotation)
        if bounds(field):
            value += f", {bounds(field)}"
        rows.append(f"| `{name}` | `{prefix}{name.upper()}` | {default(field)} | {cell(value)} | "
                    f"{cell(field.description or '')} |")
    return "\n".join(rows)


def rewrite(text: str) -> str:
    """``text`` (docs/settings.md) with the generated table between the markers."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the markers the table goes between:\n{BEGIN}\n{END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when the table is stale")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    made = rewrite(text)
    if args.check:
        if made != text:
            print(f"{DOC.relative_to(ROOT)} is stale: run python scripts/settings_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(made, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
