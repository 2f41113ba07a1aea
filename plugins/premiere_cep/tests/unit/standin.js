/*
 * What the workflow suites share: a stand-in for the server's jobs (records in the server's
 * shape, placements from the test) and a workflow on the measured-Premiere mock. Not a test
 * file itself (node --test runs only *.test.js here).
 */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const os = require("os");
const path = require("path");

const { HostRunner } = require("../mock/host_runner");
const { Workflow } = require("../../js/sf_workflow");
const { makeSequence } = require("../helpers");

/** Answers jobs the way the server's record reads: {id, state, result: {media, placements, engine, model, placeholder}}.
 *  `placementsFor(sf, videoTracks, audioTracks)` gets the request's shotforge metadata and track counts. */
class JobsLike {
  constructor(placementsFor, dir) { this.placementsFor = placementsFor; this.dir = dir; this.sent = []; }
  submit(otio) { this.sent.push(JSON.parse(JSON.stringify(otio))); return Promise.resolve("job-" + this.sent.length); }
  watch(id, onUpdate) {
    const otio = this.sent[Number(id.split("-")[1]) - 1];
    const media = path.join(this.dir, id + ".mov");
    fs.writeFileSync(media, "render " + id);
    const sf = otio.metadata.shotforge;
    const kinds = otio.tracks.children.map((t) => t.kind);
    const placements = this.placementsFor(sf, kinds.filter((k) => k === "Video").length, kinds.filter((k) => k === "Audio").length)
      .map((p) => Object.assign({ media }, p));
    const rec = { id, state: "done", progress: 1, error: null,
      result: { media: [media], placements, engine: "classical", model: "", placeholder: sf.operation === "generate" } };
    (this.records = this.records || {})[id] = rec;
    onUpdate(rec);
    return Promise.resolve(rec);
  }
  get(id) { return Promise.resolve(this.records[id]); }
  cancel() { return Promise.resolve(); }
}

/** A setup(spec, placementsFor, mockOptions) whose renders go to `dir` and whose runners are pushed to `runners`. */
function setupIn(dir, runners) {
  return function setup(spec, placementsFor, mockOptions = {}) {
    const runner = new HostRunner(makeSequence(spec), Object.assign({ importDelay: 1 }, mockOptions));
    runners.push(runner);
    const jobs = new JobsLike(placementsFor, dir);
    const wf = new Workflow({ host: (script, cb) => setImmediate(() => cb(runner.evalScript(script))), client: jobs,
      bridgeOptions: { importDelayMs: 1 } });
    return { runner, jobs, wf, dom: runner.dom };
  };
}

/**
 * A workflow test file's set-up: a temporary folder `dir` for renders (removed after the file's
 * tests), the `runners` of its mocks, each checked after every test to have stayed within the
 * documented DOM (the mock records any other member), and `setup` (setupIn) on both.
 */
function workflowSuite(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const runners = [];
  test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  test.afterEach(() => {
    for (const r of runners.splice(0)) assert.deepEqual(r.dom.violations, []);
  });
  return { dir, runners, setup: setupIn(dir, runners) };
}

/** Render, prepare and place in one go: {r, prepared, take}. */
async function place(wf, options, placeOpts) {
  const r = await wf.render(options);
  const prepared = await wf.prepare(r.job, r.record);
  return { r, prepared, take: await wf.place(r.job, r.record, prepared, placeOpts) };
}

module.exports = { JobsLike, setupIn, workflowSuite, place };
