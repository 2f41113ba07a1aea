"""The user documentation against the code it describes, so it cannot go stale: the settings
table is the settings model's, every environment variable read is documented, docs/request.md
covers every request key, operation, placement, rate, container and refusal code (and its
example is a request the server accepts), docs/http.md lists every route, the README's links and
commands are real and it is free of issue numbers and dated diaries; and the API pages at /docs
and /redoc render the route list in headless Chromium with every other origin blocked."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest

from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.request import KNOWN_KEYS, OPERATIONS, PLACEMENTS, parse_request_json
from otio_tools.timing import TIMELINE_RATES, rate_label
from server.media_formats import ALLOWED
from server.schemas import Placement
from server.settings import ServerSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PLUGIN = ROOT / "plugins" / "premiere_cep"
NODE, NPM = shutil.which("node"), shutil.which("npm")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

_spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
settings_doc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(settings_doc)


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def section(doc: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = doc.index(heading + "\n")
    rest = doc[start + len(heading) + 1:]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def code_spans(doc: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", doc))


# -- settings ---------------------------------------------------------------------------------------

def test_settings_table_is_the_settings_model():
    doc = text(DOCS / "settings.md")
    assert settings_doc.rewrite(doc) == doc, "docs/settings.md is stale: run python scripts/settings_doc.py"
    table = doc.split(settings_doc.BEGIN, 1)[1].split(settings_doc.END, 1)[0]
    for name in ServerSettings.model_fields:
        assert f"| `{name}` | `SHOTFORGE_{name.upper()}` |" in table, name
    # Defaults as the model has them, e.g. the port and a list.
    assert "| `port` | `SHOTFORGE_PORT` | `8765` |" in table
    assert "| `media_roots` | `SHOTFORGE_MEDIA_ROOTS` | `[]` |" in table


def test_settings_table_follows_a_changed_model(monkeypatch):
    """The check is not vacuous: another default makes the table differ."""
    doc = text(DOCS / "settings.md")
    field = ServerSettings.model_fields["port"]
    monkeypatch.setattr(field, "default", 9999)
    made = settings_doc.rewrite(doc)
    assert made != doc and "| `port` | `SHOTFORGE_PORT` | `9999` |" in made


def test_settings_example_is_a_config_the_server_takes(tmp_path):
    example = re.search(r"^```toml\n(.*?)^```", text(DOCS / "settings.md"), re.M | re.S).group(1)
    config = tmp_path / "server.toml"
    config.write_text(example)
    values = tomllib.loads(example)
    assert set(values) <= set(ServerSettings.model_fields), "the example names settings that do not exist"
    settings = load_settings(config=config)
    settings.check_safe()  # the example is for the network: token, roots
    assert not settings.loopback and [str(rule.server) for rule in settings.path_map] == ["/mnt/footage", "/mnt/media"]


ENV_READ = re.compile(r"""(?:environ(?:\.get)?\s*[\[(]|getenv\()\s*["'](SHOTFORGE_[A-Z0-9_]+)["']""")


def test_every_environment_variable_read_is_documented():
    sources = [*ROOT.glob("server/**/*.py"), *ROOT.glob("otio_tools/*.py"), *ROOT.glob("scripts/*.py"),
               *ROOT.glob("plugins/resolve/*.py"), *ROOT.glob("plugins/resolve/shotforge_resolve/*.py")]
    read = {name for source in sources for name in ENV_READ.findall(text(source))}
    assert {"SHOTFORGE_CONFIG", "SHOTFORGE_C2PA_DIR", "SHOTFORGE_TORCH"} <= read  # the scan finds them
    settings = {f"SHOTFORGE_{name.upper()}" for name in ServerSettings.model_fields}
    doc = section(text(DOCS / "settings.md"), "## Other environment variables")
    missing = sorted(name for name in read - settings if name not in doc)
    assert not missing, f"environment variables read but not in docs/settings.md: {missing}"


# -- the request ------------------------------------------------------------------------------------

def test_request_doc_covers_the_contract():
    doc = text(DOCS / "request.md")
    keys = section(doc, "## `metadata.shotforge`")
    for key in KNOWN_KEYS:
        assert re.search(rf"^\| `{key}`[ |,]|, `{key}` \|", keys, re.M), f"request key {key} is not documented"
    operations = section(doc, "### The operations")
    for operation in OPERATIONS:
        assert f"**`{operation}`**" in operations, operation
    placement = section(doc, "## Where the result goes")
    for value in PLACEMENTS:
        assert f"**`{value}`**" in placement, value
    rates = section(doc, "## Frame rates")
    for rate in TIMELINE_RATES:
        assert re.search(rf"(?<![\d.]){re.escape(rate_label(rate))}(?![\d.])", rates), rate_label(rate)
    media = section(doc, "## Media")
    for container in ALLOWED.values():
        assert f"- {container}\n" in media, container


CODE_RAISED = re.compile(r"""(?:RequestError|MediaError|EngineFailed)\(\s*["']([a-z_]+)["']""")


def test_every_refusal_code_of_a_request_is_documented():
    raised = set()
    for source in [*ROOT.glob("otio_tools/*.py"), *ROOT.glob("server/media_*.py"), *(ROOT / "server" / name for name in (
            "paths.py", "masks.py", "lazy_frames.py", "limits.py", "render.py", "provenance.py")),
            *ROOT.glob("server/engines/**/*.py")]:
        if source.exists():
            raised |= set(CODE_RAISED.findall(text(source)))
    assert {"no_clip_at_frame", "media_not_video", "media_outside_roots", "out_of_memory"} <= raised  # found
    doc = text(DOCS / "request.md")
    table = code_spans(section(doc, "## When a request is refused")) | code_spans(section(doc, "## When a job fails"))
    # Take and interchange codes belong to conform and batch, not to a request.
    missing = sorted(raised - table - {"bad_take", "slot_change", "interchange_write"})
    assert not missing, f"refusal codes not in docs/request.md: {missing}"


def json_blocks(doc: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", doc, re.M | re.S)


def test_request_doc_example_is_accepted_and_plans_as_it_says():
    doc = text(DOCS / "request.md")
    example = json_blocks(section(doc, "## A complete request"))[0]
    timeline, request = parse_request_json(example, "the example of docs/request.md")
    assert (request.operation, request.track, request.frame) == ("fill_gap", 0, 100)

    def media(path: str, where: str) -> MediaFacts:
        return MediaFacts(path=path, width=1920, height=1080, rate=Fraction(24), frames=240)

    plan = plan_request(timeline, request, media)
    # "the gap frames 96–107 … the job makes the 12 frames that bridge the two clips"
    assert (plan.record_frame, plan.frames, plan.make, plan.track) == (96, 12, 12, 0)


def test_request_doc_placement_example_has_the_placement_fields():
    doc = text(DOCS / "request.md")
    placement = json.loads(json_blocks(section(doc, "## The result"))[0])
    assert set(placement) == set(Placement.model_fields)
    Placement(**placement)


# -- the HTTP API -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openapi(tmp_path_factory):
    from server.app import create_app

    folder = tmp_path_factory.mktemp("docs-app")
    (folder / "empty.toml").write_text("")
    app = create_app(load_settings(config=folder / "empty.toml", output=str(folder / "out")))
    return app.openapi()


def api_routes(openapi) -> set[str]:
    return {f"{method.upper()} {path}" for path, ops in openapi["paths"].items() for method in ops}


def test_http_doc_lists_every_route_and_no_other(openapi):
    documented = {span for span in code_spans(section(text(DOCS / "http.md"), "## Routes"))
                  if re.match(r"^(GET|POST|DELETE|PUT|PATCH) /", span)}
    routes = api_routes(openapi)
    assert routes - documented == set(), "routes missing from docs/http.md"
    assert documented - routes == set(), "docs/http.md names routes the server does not have"


def test_api_description_points_at_the_docs_users_have(openapi):
    described = json.dumps(openapi)
    assert "DESIGN.md" not in described, "the OpenAPI description points at a design file users do not have"


# -- the README -------------------------------------------------------------------------------------

def test_readme_is_product_first():
    readme = text(README)
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert (ROOT / "scripts" / "demo.sh").is_file() and (ROOT / "scripts" / "test.sh").is_file()
    for heading in ("## Try it", "## A first job", "## In the editors", "## The server and its HTTP API",
                    "## Engines and models", "## Settings"):
        assert heading + "\n" in readme, heading
    for name, doc in (("README.md", readme), *((p.name, text(p)) for p in DOCS.glob("*.md"))):
        assert not re.search(r"\bissues? \d+|#\d+\b", doc, re.I), f"{name} cites issue numbers"
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", doc), f"{name} carries dated entries"
        assert "DESIGN.md" not in doc, f"{name} points at a design file users do not have"
    assert len(readme.split()) < 2500, "the README has grown into a diary: figures go to bench/RESULTS.md"


def test_readme_commands_are_real():
    from server.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    readme = text(README)
    used = set(re.findall(r"^\s*shotforge ([a-z-]+)", readme, re.M)) | set(re.findall(r"`shotforge ([a-z-]+)", readme))
    assert used and used <= set(commands), f"the README names commands that do not exist: {used - set(commands)}"
    internal = {"resolve-bridge"}  # what ShotForge.lua calls, not a user command
    assert set(commands) - internal - used == set(), "commands the README does not show"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(doc: str) -> set[str]:
    """GitHub's anchors for a document's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", doc, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_links_in_the_readme_and_docs_resolve():
    for page in (README, *DOCS.glob("*.md")):
        for target in LINK.findall(text(page)):
            if re.match(r"^[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.name} links to {target}, which does not exist"
            if anchor:
                assert anchor in anchors(text(resolved)), f"{page.name} links to {target}: no such heading"


# -- /docs and /redoc, offline ----------------------------------------------------------------------

BROWSE = r"""
const { chromium } = require("playwright-core");
(async () => {
  const [base, page_path, chromiumPath] = process.argv.slice(1);
  const origin = new URL(base).origin;
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--no-first-run"] });
  const out = { asked_elsewhere: [], page_errors: [], console_errors: [], shown: [] };
  try {
    const context = await browser.newContext();
    // The network is blocked: anything not for this server fails, as it does on an offline machine.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      out.asked_elsewhere.push(url);
      return route.abort("internetdisconnected");
    });
    const page = await context.newPage();
    page.on("pageerror", (e) => out.page_errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
    await page.goto(base + page_path);
    try {
      if (page_path === "/docs") {  // Swagger UI: one .opblock per operation
        await page.waitForSelector(".opblock-summary-path", { timeout: 30000 });
        out.shown = await page.$$eval(".opblock", (els) => els.map((el) =>
          el.querySelector(".opblock-summary-method").textContent.trim().toUpperCase() + " " +
          el.querySelector(".opblock-summary-path").getAttribute("data-path")));
      } else {  // ReDoc: each operation's endpoint, its verb then its path
        await page.waitForSelector(".http-verb", { timeout: 30000 });
        out.shown = await page.$$eval(".http-verb", (els) => els.map((el) =>
          el.textContent.trim().toUpperCase() + " " + (el.nextElementSibling || {}).textContent));
      }
    } catch (e) { out.not_rendered = String(e).split("\n")[0]; }
  } finally { await browser.close(); }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.fixture(scope="module")
def node_modules():
    if NODE is None:
        pytest.skip("node is not installed (the browser check drives Chromium with playwright-core)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (run plugins/premiere_cep/tests/setup.sh)")
    if not (PLUGIN / "node_modules" / "playwright-core").is_dir():
        assert NPM, "npm is needed to install playwright-core (plugins/premiere_cep/package.json)"
        subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PLUGIN, check=True, timeout=600)
    return PLUGIN / "node_modules"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.serverutil import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("docs-server") / "out").start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_pages_render_the_routes_offline_in_chromium(page, node_modules, server, openapi):
    proc = subprocess.run([NODE, "-e", BROWSE, server.url, page, CHROMIUM], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "NODE_PATH": str(node_modules)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["asked_elsewhere"] == [], f"{page} asked the network for {seen['asked_elsewhere']}"
    assert seen["page_errors"] == [], seen["page_errors"]
    assert "not_rendered" not in seen, f"{page} rendered no route list: {seen['not_rendered']}"
    # Only the policy's own refusals (ReDoc's sidebar logo, kept from the network) may be logged.
    others = [m for m in seen["console_errors"] if "Content Security Policy" not in m]
    assert others == [], others
    assert sorted(seen["shown"]) == sorted(api_routes(openapi)), f"{page} does not show the route list"
