/*
 * The headless workflow (js/sf_workflow.js) on the measured-Premiere mock: placement only into
 * free space, read-back and rollback, overwrite only after confirmation, takes with remove last
 * and new take. The server side is a stand-in that answers job records in the server's shape
 * (the browser suite runs the same panel against the real server).
 */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const { HostRunner } = require("../mock/host_runner");
const { Workflow, run, localStore } = require("../../js/sf_workflow");
const { makeSequence } = require("../helpers");
const { JobsLike, workflowSuite, place } = require("./standin");

// Every host call of every scenario stays within the documented DOM (workflowSuite checks it).
const { dir: DIR, setup } = workflowSuite("sf-wf-");

const V1_A_B = (bStart) => ({ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: bStart, end: 84 }] });
const EXTEND = { operation: "extend", track: "auto", side: "tail", frames: 12, engine: "classical", prompt: "more", seed: 7 };

/** What a server that keeps the target track answers for a tail extension (the panel must check it is free). */
function tailPlacements(end) {
  return (sf) => [{ track: sf.track, record_frame: end, source_in: 0, frames: sf.frames }];
}

/** Wait (bounded) until `cond()` holds: an abandoned page's work runs on its own timers. */
async function until(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + cond);
    await new Promise((ok) => setTimeout(ok, 2));
  }
}


test("extend a tail into the adjacent clip: goes to the empty V2 over the range, V1 untouched", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  const v1 = JSON.stringify(dom.snapshot()[0]);
  const { take } = await place(wf, EXTEND);
  assert.equal(JSON.stringify(dom.snapshot()[0]), v1, "V1 untouched");
  assert.deepEqual(dom.destroyed, []);
  const v2 = dom.snapshot()[1];
  assert.deepEqual(v2.map((c) => [c.name, Number(BigInt(c.start) / 10160640000n), Number(BigInt(c.end) / 10160640000n)]),
    [["ShotForge extend take 1", 36, 48]]);
  assert.equal(take.items[0].track, 1);
  assert.deepEqual(dom.violations, []);
});

test("extend a tail with no empty track above: clear message, nothing placed, render kept", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), { clips: [{ name: "Logo", start: 30, end: 60, media: "" }] }] },
    tailPlacements(36));
  const before = dom.fullSnapshot();
  const r = await wf.render(EXTEND);
  await assert.rejects(wf.prepare(r.job, r.record), (e) => e.code === "no_free_track" &&
    /add an empty video track \(Sequence > Add Tracks\) and press Place again/.test(e.message) &&
    e.message.includes("The render is kept: " + r.record.result.media[0]) && e.renderPaths[0] === r.record.result.media[0]);
  assert.equal(dom.fullSnapshot(), before);
  assert.equal(dom.mutations.length, 0);
  // The editor adds a track; Place again puts it there.
  dom.sequence.tracks.push({ name: "Video 3", clips: [], transitions: [] });
  const prepared = await wf.prepare(r.job, r.record);
  const take = await wf.place(r.job, r.record, prepared);
  assert.equal(take.items[0].track, 2);
});

test("extend under a title: the clip below is the shot, the title stays", async () => {
  const { wf, dom, jobs } = setup({ playhead: 20, tracks: [V1_A_B(60), { clips: [{ name: "Title", start: 0, end: 50, media: "" }] }] },
    tailPlacements(36));
  const titleBefore = JSON.stringify(dom.snapshot()[1]);
  const { take } = await place(wf, EXTEND);
  assert.equal(jobs.sent[0].metadata.shotforge.track, 0);
  assert.equal(take.items[0].track, 0, "V1 is free after A (the gap)");
  assert.equal(JSON.stringify(dom.snapshot()[1]), titleBefore);
});

test("extend at a transition: the cut's transition is kept, the extension goes above", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [
    { clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: 84 }], transitions: [{ start: 32, end: 40 }] }, {}] },
  tailPlacements(36));
  const v1 = () => JSON.stringify(JSON.parse(dom.fullSnapshot()).video[0]);
  const before = v1();
  const { take } = await place(wf, Object.assign({}, EXTEND, { frames: 8 }));
  assert.equal(take.items[0].track, 1);
  assert.equal(v1(), before, "clips and the transition on V1 unchanged");
  assert.equal(JSON.parse(dom.fullSnapshot()).video[0].transitions.length, 1);
  assert.deepEqual(dom.destroyed, []);
});

test("fill a gap with a transition at one side: placed in the gap, the transition kept", async () => {
  const { wf, dom, jobs } = setup({ playhead: 45, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 60, end: 84 }],
    transitions: [{ name: "Dip to Black", start: 30, end: 36 }] }] },
  (sf) => [{ track: sf.track, record_frame: 36, source_in: 0, frames: 24 }]);
  const { take } = await place(wf, { operation: "fill_gap", track: "auto", engine: "classical" });
  assert.equal(jobs.sent[0].metadata.shotforge.frame, 45);
  assert.equal(take.items[0].track, 0);
  assert.deepEqual(dom.sequence.tracks[0].transitions.map((x) => x.name), ["Dip to Black"]);
  assert.equal(take.name, "ShotForge fill gap take 1");
});

test("the server's notes on a result (frames under a dissolve its media could not cover) are kept with the take", async () => {
  const { wf, jobs } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  const watch = jobs.watch.bind(jobs);
  const note = "record frames 34-35 still show the original: the clip's media ends there";
  jobs.watch = (id, onUpdate) => watch(id, (rec) => { rec.result.notes = [note]; onUpdate(rec); });
  const { take } = await place(wf, EXTEND);
  assert.deepEqual(take.notes, [note]);
});

test("generate on In/Out: exactly [in, out), on the lowest free track when the server asks for a new one", async () => {
  const { wf, dom, jobs } = setup({ inFrame: 10, outFrame: 34, playhead: 12, tracks: [V1_A_B(60), {}] },
    (sf, n) => [{ track: n, record_frame: sf.range[0], source_in: 0, frames: sf.range[1] - sf.range[0] }]);
  const { take } = await place(wf, { operation: "generate", track: "auto", prompt: "rain", canvas: [1920, 1080] });
  assert.deepEqual(jobs.sent[0].metadata.shotforge.range, [10, 34]);
  assert.equal(jobs.sent[0].metadata.shotforge.placement, "auto");
  const c = dom.snapshot()[1][0];
  assert.deepEqual([c.start, c.end], [String(10n * 10160640000n), String(34n * 10160640000n)]);
  assert.equal(take.placeholder, true);
});

test("a read-back mismatch on the second clip: everything this run placed is removed, sequence exactly as before", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  const before = dom.fullSnapshot();
  const r = await wf.render(EXTEND);
  const prepared = await wf.prepare(r.job, r.record);
  dom.landOff = { nth: 2, frames: 1 };
  await assert.rejects(wf.place(r.job, r.record, prepared), (e) => e.code === "placement_mismatch" &&
    /Nothing was placed: the sequence is exactly as before/.test(e.message) && e.message.includes(r.record.result.media[0]));
  assert.equal(dom.fullSnapshot(), before);
  assert.equal(dom.mutations.filter((m) => m.removed).length, 2, "the first clip and the wrong one both came off");
  assert.equal(wf.lastTake("seq-Scene 1"), null, "no take recorded");
});

test("overwrite only after the editor confirmed exactly what it destroys", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: 84 }],
    transitions: [{ start: 34, end: 38 }] }] },
  (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  const before = dom.fullSnapshot();
  const r = await wf.render(Object.assign({}, EXTEND, { placement: "overwrite" }));
  const prepared = await wf.prepare(r.job, r.record);
  assert.deepEqual(prepared.destroys.map((o) => [o.kind, o.name, o.start, o.end]), [["clip", "B", 36, 84], ["transition", "Cross Dissolve", 34, 38]]);
  await assert.rejects(wf.place(r.job, r.record, prepared), (e) => e.code === "needs_confirmation" && e.destroys.length === 2);
  assert.equal(dom.fullSnapshot(), before);
  const take = await wf.place(r.job, r.record, prepared, { confirmOverwrite: true });
  assert.equal(take.items[0].track, 0);
  // The second part overwrites what the first left of B: still inside what was confirmed.
  assert.deepEqual(dom.destroyed.map((d) => [d.kind, d.name]), [["clip", "B"], ["transition", "Cross Dissolve"], ["clip", "B"]]);
  assert.equal(dom.snapshot()[0].find((c) => c.name === "B").start, String(48n * 10160640000n));
  assert.deepEqual(take.overwrote.map((o) => o.name), ["B", "Cross Dissolve"]);
});

test("takes are named, coloured and carry job, engine, model, prompt and seed in a marker over their range", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(60)] }, tailPlacements(36));
  const { take, r } = await place(wf, EXTEND);
  const sub = dom.projectItems.find((p) => p.name === "ShotForge extend take 1");
  assert.equal(sub.label, 2);
  assert.equal(take.labelled, true);
  const [m] = dom.sequence.markers;
  assert.equal(m.name, "ShotForge extend take 1");
  assert.deepEqual([m.start, m.end], [String(36n * 10160640000n), String(48n * 10160640000n)]);
  assert.equal(m.comments, `job: ${r.record.id}\nengine: classical\nmodel: none\nprompt: more\nseed: 7`);
});

test("remove last result: exactly that take's clips and marker, sequence exactly as before it", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  const before = dom.fullSnapshot();
  await place(wf, EXTEND);
  assert.notEqual(dom.fullSnapshot(), before);
  const out = await wf.removeLast();
  assert.deepEqual(out.kept, []);
  assert.equal(dom.fullSnapshot(), before);
  await assert.rejects(wf.removeLast(), (e) => e.code === "no_take");
});

test("remove last result after the editor trimmed one of its clips: only the unchanged one goes, and it says so", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  await place(wf, EXTEND);
  const trimmed = dom.sequence.tracks[0].clips.find((c) => c.start === String(41n * 10160640000n));
  trimmed.end = String(46n * 10160640000n);
  const out = await wf.removeLast();
  assert.equal(out.kept.length, 1);
  assert.ok(dom.sequence.tracks[0].clips.includes(trimmed), "the trimmed clip is the editor's now");
  assert.ok(!dom.sequence.tracks[0].clips.some((c) => c.start === String(36n * 10160640000n)));
});

test("new take: same slot, new seed, take 2 swapped in; the history survives a panel reload", async () => {
  const storage = new Map();
  const store = localStore({ getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v) });
  const { wf, dom, jobs, runner } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  wf.store = store;
  const { take: first } = await place(wf, EXTEND);
  // A reloaded panel: a new Workflow on the same storage.
  const again = new Workflow({ host: (s, cb) => setImmediate(() => cb(runner.evalScript(s))), client: jobs, store,
    bridgeOptions: { importDelayMs: 1 } });
  const out = await again.newTake({ prompt: "more, slower" });
  assert.equal(jobs.sent[1].metadata.shotforge.seed, 8);
  assert.equal(jobs.sent[1].metadata.shotforge.prompt, "more, slower");
  assert.equal(out.take.name, "ShotForge extend take 2");
  assert.equal(out.replaced.id, first.id);
  const v2 = dom.snapshot()[1];
  assert.deepEqual(v2.map((c) => [c.name, c.start, c.end]), [["ShotForge extend take 2", first.items[0].start, first.items[0].end]]);
  assert.equal(dom.sequence.markers.length, 1);
  assert.match(dom.sequence.markers[0].comments, /seed: 8/);
  assert.equal(again.lastTake("seq-Scene 1").number, 2);
});

test("new take that cannot be placed: the old take is put back exactly", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  await place(wf, EXTEND);
  const withFirst = dom.fullSnapshot();
  dom.landOff = { nth: 1, frames: 1 };
  await assert.rejects(wf.newTake({}), (e) => e.code === "placement_mismatch" && /is back in its place, exactly as before/.test(e.message));
  assert.equal(dom.fullSnapshot(), withFirst);
  assert.equal(wf.lastTake("seq-Scene 1").number, 1);
  assert.equal(await wf.resume(), null, "a reload does not try the failed swap again");
  // And Remove last still finds it (its marker was re-made with a new guid).
  await wf.removeLast();
  assert.equal(dom.sequence.markers.length, 0);
});

test("headless run(): one call from facts to a placed take", async () => {
  const runner = new HostRunner(makeSequence({ playhead: 10, tracks: [V1_A_B(60)] }), { importDelay: 1 });
  const out = await run((s, cb) => setImmediate(() => cb(runner.evalScript(s))),
    Object.assign({ server: new JobsLike(tailPlacements(36), DIR), bridgeOptions: { importDelayMs: 1 } }, EXTEND));
  assert.equal(out.state, "placed");
  assert.equal(out.take.name, "ShotForge extend take 1");
});

test("an overwrite confirmation goes stale when the editor changes what it covers: nothing destroyed, asked again with the new list", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: 60 },
    { name: "C", start: 60, end: 84 }] }] },
  (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  const r = await wf.render(Object.assign({}, EXTEND, { placement: "overwrite" }));
  const prepared = await wf.prepare(r.job, r.record);
  const shown = prepared.destroys; // what the dialog listed: B
  assert.deepEqual(shown.map((o) => o.name), ["B"]);
  // While the dialog is open the editor trims B and moves C under the range.
  const tpf = 10160640000n;
  dom.sequence.tracks[0].clips[1].end = String(44n * tpf);
  dom.sequence.tracks[0].clips[2].start = String(44n * tpf);
  const before = dom.fullSnapshot();
  await assert.rejects(wf.place(r.job, r.record, prepared, { confirmOverwrite: shown }), (e) => e.code === "needs_confirmation" &&
    /changed since it was confirmed/.test(e.message) && e.destroys.map((o) => o.name).join() === "B,C");
  assert.equal(dom.fullSnapshot(), before);
  assert.deepEqual(dom.destroyed, []);
  // Confirming the new list places it, destroying exactly those two.
  const again = await wf.prepare(r.job, r.record);
  const take = await wf.place(r.job, r.record, again, { confirmOverwrite: again.destroys });
  assert.equal(take.items.length, 2);
  assert.deepEqual([...new Set(dom.destroyed.map((d) => d.name))], ["B", "C"]);
});

test("new take: the same slot even when a lower track became free since (V3 stays V3), same frame, frames and track in the request", async () => {
  const tracks = [V1_A_B(40), { clips: [{ name: "Logo", start: 30, end: 60, media: "" }] }, {}];
  const { wf, dom, jobs } = setup({ playhead: 10, tracks }, tailPlacements(36));
  const { take: first } = await place(wf, EXTEND);
  assert.equal(first.items[0].track, 2);
  dom.sequence.tracks[1].clips = []; // the editor deletes the logo: V2 is free now
  const out = await wf.newTake({});
  for (const k of ["operation", "track", "frame", "side", "frames", "placement"]) {
    assert.equal(jobs.sent[1].metadata.shotforge[k], jobs.sent[0].metadata.shotforge[k], k);
  }
  assert.equal(out.take.items[0].track, 2, "on the track of the take it replaces");
  assert.deepEqual([out.take.items[0].start, out.take.items[0].end], [first.items[0].start, first.items[0].end]);
  assert.deepEqual(dom.snapshot()[1], []);
});

test("new take whose render fills other frames: refused, the old take back exactly, the new render named", async () => {
  let n = 0;
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] },
    (sf) => [{ track: sf.track, record_frame: 36, source_in: 0, frames: ++n === 1 ? sf.frames : sf.frames - 2 }]);
  await place(wf, EXTEND);
  const withFirst = dom.fullSnapshot();
  await assert.rejects(wf.newTake({}), (e) => e.code === "not_same_slot" && /frames 36-45, not 36-47/.test(e.message) &&
    /is back in its place, exactly as before/.test(e.message) && e.message.includes("job-2.mov"));
  assert.equal(dom.fullSnapshot(), withFirst);
  assert.equal(wf.lastTake("seq-Scene 1").number, 1);
});

test("remove last result leaves an editor's clip that only shares the take's name and slot", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  const { take } = await place(wf, EXTEND);
  // The editor deleted the take and put another clip of that name in its place (pasted from a copy of the sequence).
  const clip = dom.sequence.tracks[1].clips[0];
  clip.item = dom.itemFor("/media/from-another-sequence.mov");
  const out = await wf.removeLast();
  assert.equal(out.kept.length, 1);
  assert.deepEqual(dom.sequence.tracks[1].clips, [clip]);
  assert.equal(dom.sequence.markers.length, 0, "the take's marker went");
  assert.equal(take.items[0].start, clip.start);
});

test("the panel reloaded in the middle of a placement: recover() takes the half-placed take off, sequence exactly as before", async () => {
  const storage = new Map();
  const store = localStore({ getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v) });
  const { wf, dom, jobs, runner } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  wf.store = store;
  const before = dom.fullSnapshot();
  // Premiere runs the second placement, but the page goes away before its answer arrives.
  let places = 0;
  const dying = new Workflow({ host: (s, cb) => {
    const out = runner.evalScript(s);
    if (/^ShotForgeHost\.place\(/.test(s) && ++places === 2) return;
    setImmediate(() => cb(out));
  }, client: jobs, store, bridgeOptions: { importDelayMs: 1 } });
  const r = await dying.render(EXTEND);
  const prepared = await dying.prepare(r.job, r.record);
  dying.place(r.job, r.record, prepared); // never settles
  await until(() => places === 2);
  assert.equal(dom.sequence.tracks[0].clips.length, 4, "both parts are on V1");
  const reloaded = new Workflow({ host: (s, cb) => setImmediate(() => cb(runner.evalScript(s))), client: jobs, store,
    bridgeOptions: { importDelayMs: 1 } });
  const cut = await reloaded.recover();
  assert.equal(cut.length, 1);
  assert.deepEqual(cut[0].kept, [], "nothing of it is left to report");
  assert.equal(dom.fullSnapshot(), before);
  assert.equal(reloaded.lastTake("seq-Scene 1"), null);
  assert.deepEqual(await reloaded.recover(), []);
});

test("an evalScript answer lost after Premiere placed the clip (empty callback): the rollback still takes it off", async () => {
  const { wf, dom, runner } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  const before = dom.fullSnapshot();
  let places = 0;
  wf.host.evalScript = (s, cb) => {
    const out = runner.evalScript(s);
    setImmediate(() => cb(/^ShotForgeHost\.place\(/.test(s) && ++places === 2 ? "" : out));
  };
  const r = await wf.render(EXTEND);
  const prepared = await wf.prepare(r.job, r.record);
  await assert.rejects(wf.place(r.job, r.record, prepared), (e) => e.code === "host_error" &&
    /Nothing was placed: the sequence is exactly as before/.test(e.message));
  assert.equal(dom.fullSnapshot(), before);
});

test("the panel reloaded in the middle of a new take's swap: recover() takes the new one off and puts the old take back exactly", async () => {
  const storage = new Map();
  const store = localStore({ getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v) });
  const { wf, dom, jobs, runner } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  wf.store = store;
  const { take: first } = await place(wf, EXTEND);
  const withFirst = dom.fullSnapshot();
  let places = 0;
  const dying = new Workflow({ host: (s, cb) => {
    const out = runner.evalScript(s);
    if (/^ShotForgeHost\.place\(/.test(s) && ++places === 1) return;
    setImmediate(() => cb(out));
  }, client: jobs, store, bridgeOptions: { importDelayMs: 1 } });
  dying.newTake({}); // never settles: the new take's clip is on, its answer lost
  await until(() => places === 1);
  assert.equal(dom.sequence.tracks[1].clips[0].name, "ShotForge extend take 2");
  const reloaded = new Workflow({ host: (s, cb) => setImmediate(() => cb(runner.evalScript(s))), client: jobs, store,
    bridgeOptions: { importDelayMs: 1 } });
  await reloaded.recover();
  assert.equal(dom.fullSnapshot(), withFirst);
  assert.equal(reloaded.lastTake("seq-Scene 1").id, first.id);
  await reloaded.removeLast();
  assert.deepEqual(dom.snapshot()[1], []);
});

/** A client whose job never reports back to this panel (it is reloaded while the server renders). */
function goneAway(jobs) {
  return { submit: (o) => jobs.submit(o), watch: (id, onUpdate) => { jobs.watch(id, () => {}); return new Promise(() => {}); },
    get: (id) => jobs.get(id), cancel: () => Promise.resolve() };
}

test("the panel reloaded while the job rendered: resume() follows it and places the result as a take", async () => {
  const storage = new Map();
  const store = localStore({ getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v) });
  const { dom, jobs, runner } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  const host = (s, cb) => setImmediate(() => cb(runner.evalScript(s)));
  const first = new Workflow({ host, client: goneAway(jobs), store, bridgeOptions: { importDelayMs: 1 } });
  first.render(EXTEND); // never comes back to this page
  await until(() => store.loadJob("seq-Scene 1") !== null);
  assert.deepEqual(dom.mutations, []);
  const reloaded = new Workflow({ host, client: jobs, store, bridgeOptions: { importDelayMs: 1 } });
  const out = await reloaded.resume();
  assert.equal(out.record.state, "done");
  assert.equal(out.tried, false);
  const take = await reloaded.placeResumed(out);
  assert.equal(take.name, "ShotForge extend take 1");
  assert.deepEqual(dom.snapshot()[1].map((c) => c.name), ["ShotForge extend take 1"]);
  assert.equal(await reloaded.resume(), null, "placed: nothing in flight any more");
});

test("the panel reloaded while a new take rendered: resume() swaps it in for the old take", async () => {
  const storage = new Map();
  const store = localStore({ getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v) });
  const { wf, dom, jobs, runner } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  wf.store = store;
  await place(wf, EXTEND);
  const host = (s, cb) => setImmediate(() => cb(runner.evalScript(s)));
  new Workflow({ host, client: goneAway(jobs), store, bridgeOptions: { importDelayMs: 1 } }).newTake({});
  await until(() => store.loadJob("seq-Scene 1") !== null);
  assert.deepEqual(dom.snapshot()[1].map((c) => c.name), ["ShotForge extend take 1"], "the old take stays while it renders");
  const reloaded = new Workflow({ host, client: jobs, store, bridgeOptions: { importDelayMs: 1 } });
  const out = await reloaded.placeResumed(await reloaded.resume());
  assert.equal(out.take.name, "ShotForge extend take 2");
  assert.deepEqual(dom.snapshot()[1].map((c) => c.name), ["ShotForge extend take 2"]);
  assert.equal(dom.sequence.markers.length, 1);
  assert.match(dom.sequence.markers[0].comments, /seed: 8/);
});

test("a render whose placement failed before the reload is offered again, not placed unasked", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), { clips: [{ name: "Logo", start: 30, end: 60, media: "" }] }] },
    tailPlacements(36));
  const r = await wf.render(EXTEND);
  await assert.rejects(wf.prepare(r.job, r.record), (e) => e.code === "no_free_track");
  const out = await wf.resume();
  assert.equal(out.tried, true);
  assert.equal(out.record.id, r.record.id);
  assert.deepEqual(dom.mutations, []);
});

test("a removal failing during the rollback does not stop the others, and the message does not claim 'as before'", async () => {
  const { wf, dom, runner } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 4 },
      { track: 0, record_frame: 45, source_in: 9, frames: 3 }]);
  const r = await wf.render(EXTEND);
  const prepared = await wf.prepare(r.job, r.record);
  dom.landOff = { nth: 3, frames: 1 };
  let removals = 0;
  wf.host.evalScript = (s, cb) => setImmediate(() => cb(/^ShotForgeHost\.removeClip\(/.test(s) && ++removals === 2 ? "EvalScript error." : runner.evalScript(s)));
  await assert.rejects(wf.place(r.job, r.record, prepared), (e) => e.code === "placement_mismatch" &&
    /could not be restored exactly/.test(e.message) && !/Nothing was placed/.test(e.message));
  // Last first: the third (mismatched) part was already gone, removing the second failed, the first still came off.
  const ours = dom.sequence.tracks[0].clips.filter((c) => /^ShotForge/.test(c.name)).map((c) => Number(BigInt(c.start) / 10160640000n));
  assert.deepEqual(ours, [41]);
});

test("a lost take history does not give a second 'take 1': an overwrite over an old take 1 keeps what is left of it and names the new one take 2", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [{ clips: [{ name: "A", start: 0, end: 36 },
    { name: "ShotForge extend take 1", start: 36, end: 84, media: "/renders/old.mov" }] }] },
  (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 12 }]);
  const r = await wf.render(Object.assign({}, EXTEND, { placement: "overwrite" }));
  const prepared = await wf.prepare(r.job, r.record);
  const take = await wf.place(r.job, r.record, prepared, { confirmOverwrite: prepared.destroys });
  assert.equal(take.name, "ShotForge extend take 2");
  const v1 = dom.snapshot()[0].map((c) => [c.name, Number(BigInt(c.start) / 10160640000n), Number(BigInt(c.end) / 10160640000n)]);
  assert.deepEqual(v1, [["A", 0, 36], ["ShotForge extend take 2", 36, 48], ["ShotForge extend take 1", 48, 84]]);
});

test("Premiere refusing to remove a clip: Remove last says so and keeps the take; a rollback does not claim 'as before'", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] }, tailPlacements(36));
  await place(wf, EXTEND);
  dom.removeRefused = true;
  await assert.rejects(wf.removeLast(), (e) => e.code === "not_removed" && /refused to remove ‘?ShotForge extend take 1/.test(e.message));
  assert.equal(wf.lastTake("seq-Scene 1").number, 1, "still the last result: Remove last can be tried again");
  dom.removeRefused = false;
  await wf.removeLast();
  assert.deepEqual(dom.snapshot()[1], []);
  // A read-back mismatch whose clip Premiere will not take off again.
  const before = dom.fullSnapshot();
  const r = await wf.render(EXTEND);
  const prepared = await wf.prepare(r.job, r.record);
  dom.landOff = { nth: 1, frames: 1 };
  dom.removeRefused = true;
  await assert.rejects(wf.place(r.job, r.record, prepared), (e) => e.code === "placement_mismatch" &&
    /refused to remove it again/.test(e.message) && /could not be restored exactly/.test(e.message) && !/Nothing was placed/.test(e.message));
  dom.removeRefused = false;
  assert.notEqual(dom.fullSnapshot(), before);
});

test("new take whose swap fails half-way through taking the old take off: the old take is completed again, exactly as before", async () => {
  const { wf, dom, runner } = setup({ playhead: 10, tracks: [V1_A_B(40), {}] },
    (sf) => [{ track: sf.track, record_frame: 36, source_in: 0, frames: 5 }, { track: sf.track, record_frame: 41, source_in: 5, frames: 7 }]);
  await place(wf, EXTEND);
  const withFirst = dom.fullSnapshot();
  let removals = 0;
  wf.host.evalScript = (s, cb) => setImmediate(() => cb(/^ShotForgeHost\.removeClip\(/.test(s) && ++removals === 2 ? "EvalScript error." : runner.evalScript(s)));
  await assert.rejects(wf.newTake({}), (e) => e.code === "host_error" && /is back in its place, exactly as before/.test(e.message));
  assert.equal(dom.fullSnapshot(), withFirst);
  assert.equal(wf.lastTake("seq-Scene 1").number, 1);
});

test("the panel closed before Premiere ran the second placement: recover() takes the first off and reports nothing left over", async () => {
  const storage = new Map();
  const store = localStore({ getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v) });
  const { dom, jobs, runner } = setup({ playhead: 10, tracks: [V1_A_B(60), {}] },
    (sf) => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 5, frames: 7 }]);
  const before = dom.fullSnapshot();
  let places = 0;
  const dying = new Workflow({ host: (s, cb) => {
    if (/^ShotForgeHost\.place\(/.test(s) && ++places === 2) return; // never sent to Premiere
    setImmediate(() => cb(runner.evalScript(s)));
  }, client: jobs, store, bridgeOptions: { importDelayMs: 1 } });
  const r = await dying.render(EXTEND);
  dying.place(r.job, r.record, await dying.prepare(r.job, r.record));
  await until(() => places === 2);
  const reloaded = new Workflow({ host: (s, cb) => setImmediate(() => cb(runner.evalScript(s))), client: jobs, store,
    bridgeOptions: { importDelayMs: 1 } });
  const [cut] = await reloaded.recover();
  assert.deepEqual(cut.kept, []);
  assert.equal(dom.fullSnapshot(), before);
});
