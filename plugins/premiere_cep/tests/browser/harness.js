/*
 * End-to-end harness: the real panel page (file://, as CEP loads it) in headless Chromium,
 * CSInterface stubbed to run evalScript strings through jsx/host.jsx on the mock DOM in this
 * node process, against a real ShotForge server started on a free loopback port.
 */
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const assert = require("node:assert/strict");
const { before, after } = require("node:test");
const { spawn, execFileSync } = require("child_process");
const { pathToFileURL } = require("url");

const { HostRunner } = require("../mock/host_runner");
const { withState } = require("../helpers");

const PLUGIN = path.join(__dirname, "..", "..");
const REPO = path.join(PLUGIN, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

function python() {
  if (process.env.SHOTFORGE_PYTHON) return process.env.SHOTFORGE_PYTHON;
  const venv = path.join(REPO, ".venv", "bin", "python");
  return fs.existsSync(venv) ? venv : "python3";
}

/** Why the browser tests cannot run here, or null. */
function skipReason() {
  if (!fs.existsSync(CHROMIUM)) return `chromium is not installed at ${CHROMIUM} (run plugins/premiere_cep/tests/setup.sh)`;
  try { require.resolve("playwright-core"); } catch (e) { return "playwright-core is not installed (npm ci in plugins/premiere_cep)"; }
  if (!fs.existsSync(path.join(REPO, "server", "service_cli.py"))) return "the ShotForge server (server/service_cli.py) is not in this tree";
  return null;
}

function makeMedia(dir) {
  const out = execFileSync(python(), [path.join(PLUGIN, "tests", "tools", "make_media.py"), dir], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop());
}

/** `shotforge serve` on a free loopback port (the server picks it: --port 0), Origin null allowed. */
function startServer(dir, extraArgs = []) {
  const config = path.join(dir, "empty.toml");
  fs.writeFileSync(config, "");
  const log = fs.openSync(path.join(dir, "server.log"), "a");
  const env = Object.assign({}, process.env, { PYTHONPATH: REPO, SHOTFORGE_CONFIG: config });
  delete env.SHOTFORGE_TOKEN;
  const proc = spawn(python(), ["-m", "server.service_cli", "serve", "--output", path.join(dir, "out"), "--port", "0",
    "--host", "127.0.0.1", "--cors-origin", "null", ...extraArgs], {
    cwd: REPO,
    env,
    stdio: ["ignore", "pipe", log],
  });
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("server did not start:\n" + readLog(dir))); }, 60000);
    proc.stdout.on("data", (d) => {
      buf += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1], stop: () => stopServer(proc) }); }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n` + readLog(dir))); });
  });
}

function readLog(dir) {
  try { return fs.readFileSync(path.join(dir, "server.log"), "utf8").slice(-3000); } catch (e) { return ""; }
}

function stopServer(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    const t = setTimeout(() => proc.kill("SIGKILL"), 15000);
    proc.on("exit", () => { clearTimeout(t); resolve(); });
    proc.kill("SIGINT");
  });
}

async function launchBrowser() {
  const { chromium } = require("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

const STUB = `
  window.CSInterface = function () {};
  window.CSInterface.prototype.evalScript = function (script, cb) {
    window.__sfHostEval(script).then(function (r) { if (cb) cb(r); }, function () { if (cb) cb("EvalScript error."); });
  };
  window.CSInterface.prototype.getSystemPath = function () { return ""; };
  window.CSInterface.prototype.addEventListener = function () {};
  window.SHOTFORGE_BRIDGE_OPTIONS = { importDelayMs: 20, importTries: 50 };
  window.SHOTFORGE_POLL_MS = 100;
  window.__sfSeen = [];
  document.addEventListener("DOMContentLoaded", function () {
    var stage = document.getElementById("stage"), bar = document.getElementById("progress-bar");
    new MutationObserver(function () {
      window.__sfSeen.push({ stage: stage.textContent, width: bar.style.width });
    }).observe(document.getElementById("job"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
`;

/**
 * Open the panel on a mock sequence. `sequence` is a facts-shaped object; `state` sets the
 * playhead/marks/selection (frames). Returns {page, runner, context, close}.
 */
async function openPanel(browser, serverUrl, sequence, state = {}, { importDelay = 2, evalOverride = null } = {}) {
  const runner = new HostRunner(withState(sequence, state), { importDelay });
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLines = [];
  const requests = [];
  page.on("request", async (r) => {
    let origin = "";
    try { origin = (await r.allHeaders()).origin || ""; } catch (e) { origin = "?"; }
    requests.push(r.method() + " " + r.url() + " origin=" + origin);
  });
  page.on("console", (m) => consoleLines.push(m.type() + ": " + m.text()));
  page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
  await page.exposeFunction("__sfHostEval", (script) => (evalOverride ? evalOverride(script, runner) : runner.evalScript(script)));
  await page.addInitScript(STUB);
  await page.goto(pathToFileURL(path.join(PLUGIN, "index.html")).href);
  await page.evaluate((url) => {
    document.getElementById("server-url").value = url;
    return window.ShotForgePanel.checkServer();
  }, serverUrl);
  return { page, runner, context, consoleLines, requests, close: () => context.close() };
}

/** Click Run (or another action button) and wait for the outcome line: {kind: "ok"|"error"|"", text}. */
async function runAndWait(page, timeout = 90000, button = "#run") {
  await page.click(button);
  await page.waitForFunction(() => {
    const s = document.getElementById("status");
    return s.textContent && !window.ShotForgePanel.state.busy;
  }, null, { timeout });
  return page.evaluate(() => {
    const s = document.getElementById("status");
    return { kind: s.classList.contains("ok") ? "ok" : s.classList.contains("error") ? "error" : "", text: s.textContent,
      seen: window.__sfSeen.slice(), record: window.ShotForgePanel.state.lastRecord, request: window.ShotForgePanel.state.request };
  });
}

/** Open More and choose the classical engine. */
async function classical(page) {
  await page.evaluate(() => { document.getElementById("more").open = true; });
  await page.selectOption("#engine", "classical");
}

/** The mock's clips on video track `track`, in record order. */
function clipsOn(runner, track) {
  return runner.dom.snapshot()[track];
}

/** A server stage and a full progress bar were shown while the job ran. */
function assertProgressShown(out) {
  const stages = out.seen.map((s) => s.stage);
  assert.ok(stages.some((s) => ["queued", "planning", "decoding", "rendering", "encoding", "running", "writing"].includes(s) || /ing$/.test(s)),
    "a server stage was shown: " + JSON.stringify(stages));
  assert.ok(out.seen.some((s) => s.width === "100%"), "the progress bar reached 100%");
}

/** Remove last result on the open panel `p` puts the mock's sequence back exactly as `before` (its
 *  fullSnapshot), every host call within the documented DOM; resolves the outcome line. */
async function assertRemoveLastRestores(p, before) {
  const removed = await runAndWait(p.page, 60000, "#remove-last");
  assert.equal(removed.kind, "ok", removed.text);
  assert.equal(p.runner.dom.fullSnapshot(), before);
  assert.deepEqual(p.runner.dom.violations, []);
  return removed;
}

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "sf-panel-"));
}

/** `frames` frames of `seq` (a fixture sequence) as a tick string. */
function ticks(frames, seq) {
  return String(BigInt(frames) * BigInt(seq.timebase));
}

/**
 * A browser suite's set-up, called inside its describe: a temporary folder `dir` with the media
 * copies (`media`) and their sequences (`seqs`), a real server and a browser, all filled in before
 * the first test and gone after the last (the folder kept with SHOTFORGE_KEEP_TMP). `open(seq,
 * state, opts)` opens the panel on that browser and server (openPanel).
 */
function panelSuite() {
  const env = { seqs: {} };
  env.open = (sequence, state, opts) => openPanel(env.browser, env.server.url, sequence, state, opts);
  before(async () => {
    env.dir = tmpdir();
    env.media = makeMedia(env.dir);
    for (const [k, p] of Object.entries(env.media.sequences)) env.seqs[k] = JSON.parse(fs.readFileSync(p, "utf8"));
    env.server = await startServer(env.dir);
    env.browser = await launchBrowser();
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.server) await env.server.stop();
    if (process.env.SHOTFORGE_KEEP_TMP) console.log("kept " + env.dir);
    else if (env.dir) fs.rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}

module.exports = { skipReason, makeMedia, startServer, launchBrowser, openPanel, runAndWait, tmpdir, ticks, panelSuite, classical,
  clipsOn, assertProgressShown, assertRemoveLastRestores, CHROMIUM, REPO, PLUGIN };
