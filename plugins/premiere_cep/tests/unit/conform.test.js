/*
 * Conform placeholders (js/sf_conform.js) on the measured-Premiere mock: two generate
 * placeholders placed through the workflow, then re-rendered through a stand-in for the server's
 * takes API (job records with result.placeholder and result.takes, POST /v1/takes/{id}/rerender
 * into the same slot, 404 for a job it never made) and placed beside or swapped in. The browser
 * suite runs the same against the real server.
 */
"use strict";
const test = require("node:test");
const { afterEach } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const os = require("os");
const path = require("path");

const { HostRunner } = require("../mock/host_runner");
const { Workflow } = require("../../js/sf_workflow");
const { Conform, choices } = require("../../js/sf_conform");
const { ShotForgeError } = require("../../js/sf_core");
const { makeSequence } = require("../helpers");

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), "sf-conform-"));
test.after(() => fs.rmSync(DIR, { recursive: true, force: true }));
const TPF = 10160640000n;

/** The server's jobs and takes: a generate by the classical engine is a placeholder; a re-render
 *  keeps the take's placements (its slot) with new media and the engine asked for. */
class TakesServer {
  constructor() { this.sent = []; this.records = {}; this.rerenders = []; this.canceled = []; this.baseUrl = "http://stand-in"; this.hold = false; }
  finish(id, placements, engine, model, placeholder) {
    const media = path.join(DIR, id + ".mov");
    fs.writeFileSync(media, "render " + id);
    const rec = { id, state: "done", progress: 1, error: null,
      result: { media: [media], placements: placements.map((p) => Object.assign({}, p, { media })), engine, model, placeholder, takes: ["take-" + id] } };
    this.records[id] = rec;
    return rec;
  }
  submit(otio) {
    this.sent.push(JSON.parse(JSON.stringify(otio)));
    const id = "job-" + this.sent.length, sf = otio.metadata.shotforge;
    this.pending = this.pending || {};
    this.pending[id] = () => this.finish(id, [{ track: otio.tracks.children.length, record_frame: sf.range[0], source_in: 0,
      frames: sf.range[1] - sf.range[0] }], "classical", "", sf.operation === "generate");
    return Promise.resolve(id);
  }
  rerender(takeId, body) {
    const old = Object.values(this.records).find((r) => r.result.takes[0] === takeId);
    if (!old) return Promise.reject(new ShotForgeError("take_not_found", "there is no take '" + takeId + "'"));
    this.rerenders.push({ takeId, body });
    const id = "rerun-" + this.rerenders.length, engine = body.engine || old.result.engine;
    this.pending[id] = () => this.finish(id, old.result.placements.map((p) => ({ track: p.track, record_frame: p.record_frame,
      source_in: p.source_in, frames: p.frames })), engine, body.model || "", engine === "classical" && old.result.placeholder);
    return Promise.resolve(id);
  }
  watch(id, onUpdate, control) {
    const step = () => {
      if (control && control.stopped) return Promise.resolve(this.records[id] || { id, state: "canceled", progress: 0 });
      if (this.hold) { onUpdate({ id, state: "running", progress: 0.5 }); return new Promise((r) => setTimeout(r, 2)).then(step); }
      const rec = this.pending[id]();
      onUpdate(rec);
      return Promise.resolve(rec);
    };
    return step();
  }
  get(id) {
    return this.records[id] ? Promise.resolve(this.records[id]) :
      Promise.reject(new ShotForgeError("job_not_found", "there is no job '" + id + "'"));
  }
  cancel(id) { this.canceled.push(id); this.records[id] = { id, state: "canceled", progress: 0 }; return Promise.resolve(); }
}

const RUNNERS = [];
afterEach(() => {
  for (const r of RUNNERS.splice(0)) assert.deepEqual(r.dom.violations, []);
});

/** V1: A 0..36, B 60..84; V2, V3 empty. Placeholders (the server asks for a new track, so the
 *  lowest free one above V1): take 1 at 100..124 and take 2 at 10..34, both on V2. */
async function placeholders() {
  const runner = new HostRunner(makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 60, end: 84 }] }, {}, {}] }),
    { importDelay: 1 });
  RUNNERS.push(runner);
  const server = new TakesServer();
  const wf = new Workflow({ host: (script, cb) => setImmediate(() => cb(runner.evalScript(script))), client: server,
    bridgeOptions: { importDelayMs: 1 } });
  for (const [first, last, prompt] of [[100, 124, "rain"], [10, 34, "a lighthouse"]]) {
    runner.dom.sequence.inPoint = String(BigInt(first) * TPF); // the editor's In/Out marks
    runner.dom.sequence.outPoint = String(BigInt(last) * TPF);
    const r = await wf.render({ operation: "generate", track: "auto", prompt, canvas: [1920, 1080], engine: "classical", seed: 3 });
    await wf.place(r.job, r.record, await wf.prepare(r.job, r.record), {});
  }
  return { runner, server, wf, dom: runner.dom };
}

function rows(dom, track) {
  return dom.snapshot()[track].map((c) => [c.name, Number(BigInt(c.start) / TPF), Number(BigInt(c.end) / TPF)]);
}

test("conform beside: each new take on the lowest free track above its placeholder, over the same frames", async () => {
  const { server, wf, dom } = await placeholders();
  assert.deepEqual(rows(dom, 1), [["ShotForge generate take 2", 10, 34], ["ShotForge generate take 1", 100, 124]]);
  const v1 = JSON.stringify(dom.snapshot()[0]), v2 = JSON.stringify(dom.snapshot()[1]);
  const seen = [];
  const out = await new Conform(wf, { engine: "diffusers", model: "wan-1.3b", onProgress: (p) => seen.push(p) }).run();
  assert.match(out.message, /^Conformed 2 of 2 ShotForge takes \(each on a free track above its old take\)\.$/);
  assert.equal(JSON.stringify(dom.snapshot()[0]), v1, "V1 untouched");
  assert.equal(JSON.stringify(dom.snapshot()[1]), v2, "the placeholders stay as they were");
  // in sequence order: take 2 (frame 10) first, then take 1 (frame 100); V3 is free over both
  assert.deepEqual(rows(dom, 2), [["ShotForge generate take 3", 10, 34], ["ShotForge generate take 4", 100, 124]]);
  assert.deepEqual(server.rerenders.map((r) => r.body), [{ engine: "diffusers", model: "wan-1.3b" }, { engine: "diffusers", model: "wan-1.3b" }]);
  assert.deepEqual(out.conformed.map((t) => [t.engine, t.model, t.placeholder, t.seed]), [["diffusers", "wan-1.3b", false, 3], ["diffusers", "wan-1.3b", false, 3]]);
  assert.equal(out.conformed[0].request.metadata.shotforge.engine, "diffusers");
  assert.deepEqual(seen[seen.length - 1], { progress: 1, stage: "2 of 2 re-renders finished", done: true });
  assert.equal(dom.sequence.markers.length, 4);
  // the model's takes are not placeholders: a second conform finds only the two kept beside them
  const again = new Conform(wf, { engine: "diffusers" });
  await again.find();
  assert.deepEqual(again.units.map((u) => u.take.jobId), ["job-2", "job-1"]);
});

test("conform swap in: each placeholder replaced in its slot, the old takes removed; the history says so", async () => {
  const { server, wf, dom } = await placeholders();
  const slots = [0, 1].map((t) => dom.snapshot()[t].map((c) => [c.start, c.end, c.inPoint]));
  const v1 = JSON.stringify(dom.snapshot()[0]);
  const out = await new Conform(wf, { engine: "classical", mode: "swap", newSeed: true }).run();
  assert.match(out.message, /^Conformed 2 of 2 ShotForge takes \(each swapped into its slot\)\.$/);
  assert.deepEqual([0, 1].map((t) => dom.snapshot()[t].map((c) => [c.start, c.end, c.inPoint])), slots);
  assert.equal(JSON.stringify(dom.snapshot()[0]), v1);
  assert.deepEqual(rows(dom, 1), [["ShotForge generate take 3", 10, 34], ["ShotForge generate take 4", 100, 124]]);
  assert.deepEqual(rows(dom, 2), []);
  assert.equal(dom.sequence.markers.length, 2);
  const history = wf.store.load("seq-Scene 1");
  assert.deepEqual(history.filter((t) => t.removed).map((t) => t.replacedBy), out.conformed.map((t) => t.id));
  // a fresh seed per take, sent and kept in the new take's request
  assert.ok(out.conformed.every((t, i) => t.seed === server.rerenders[i].body.seed && Number.isInteger(t.seed)));
});

test("a swap that lands wrong is named and undone, its placeholder back exactly, while the other is done", async () => {
  const { wf, dom } = await placeholders();
  const placeholder = JSON.stringify(dom.snapshot()[1][0]), v1 = JSON.stringify(dom.snapshot()[0]);
  dom.landOff = { nth: 1, frames: 1 };
  const out = await new Conform(wf, { engine: "classical", mode: "swap" }).run();
  assert.match(out.message, /^Conformed 1 of 2 ShotForge takes/);
  // take 2, the first in sequence order: 10 frames from 01:00:00:00 at 25 fps
  assert.match(out.message, /Not conformed: ‘ShotForge generate take 2’ on V2 at 01:00:00:10: .*is back in its place, exactly as before/s);
  assert.deepEqual(rows(dom, 1), [["ShotForge generate take 2", 10, 34], ["ShotForge generate take 3", 100, 124]]);
  assert.equal(JSON.stringify(dom.snapshot()[1][0]), placeholder, "take 2 back exactly (start, end, source in, name)");
  assert.equal(JSON.stringify(dom.snapshot()[0]), v1);
  assert.equal(out.failed.length, 1);
});

test("a take the server has no record of (another server rendered it) is named; the other is conformed", async () => {
  const { server, wf, dom } = await placeholders();
  delete server.records["job-1"];
  const out = await new Conform(wf, { engine: "classical" }).run();
  assert.match(out.message, /^Conformed 1 of 2/);
  assert.match(out.message, /‘ShotForge generate take 1’ on V2 at 01:00:04:00: the server at http:\/\/stand-in has no record of its job job-1 \(another server rendered it/);
  assert.deepEqual(rows(dom, 2), [["ShotForge generate take 3", 10, 34]]);
});

test("classical results are conformed only when asked; cancel stops the re-renders and places nothing", async () => {
  const { server, wf, dom } = await placeholders();
  server.records["job-1"].result.placeholder = false; // a classical result, not a placeholder
  const only = new Conform(wf, { engine: "classical" });
  await only.find();
  assert.deepEqual(only.units.map((u) => u.take.jobId), ["job-2"]);
  assert.equal(only.failed.length, 0);
  const both = new Conform(wf, { engine: "classical", includeClassical: true });
  await both.find();
  assert.deepEqual(both.units.map((u) => u.take.jobId), ["job-2", "job-1"]);

  const before = dom.fullSnapshot();
  server.hold = true;
  const c = new Conform(wf, { engine: "classical", includeClassical: true, onProgress: (p) => { if (!p.done) c.cancel(); } });
  const out = await c.run();
  assert.equal(out.state, "canceled");
  assert.match(out.message, /nothing was placed/);
  assert.deepEqual(server.canceled, ["rerun-1", "rerun-2"]);
  assert.equal(dom.fullSnapshot(), before);
});

test("conform choices are checked before anything is sent", () => {
  assert.throws(() => choices({ engine: "classical", model: "wan" }), /needs the diffusers engine/);
  assert.throws(() => choices({ mode: "over" }), /conform mode ‘over’/);
  assert.throws(() => choices({ engine: "magic" }), /is not one of diffusers, classical, auto/);
  assert.deepEqual(choices({}), { engine: "diffusers", model: "", mode: "beside", includeClassical: false, newSeed: false });
});
