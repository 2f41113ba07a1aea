/* The ExtendScript host against the mock of the documented DOM. */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const os = require("os");
const path = require("path");
const acorn = require("acorn");

const { HostRunner, HOST_JSX } = require("../mock/host_runner");
const { PremiereMock, isDocumented } = require("../mock/ppro_dom");
const { HostBridge, lit } = require("../../js/sf_host");
const core = require("../../js/sf_core");
const plan = require("../../js/sf_plan");
const { loadSequence, allSequences, withState, frames, makeSequence } = require("../helpers");

const SOURCE = fs.readFileSync(HOST_JSX, "utf8");

function bridgeFor(runner, opts) {
  return new HostBridge((script, cb) => setImmediate(() => cb(runner.evalScript(script))),
    Object.assign({ importDelayMs: 1 }, opts));
}

// One temporary folder for the file's renders (one subfolder each), removed when the file's tests end.
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "sf-host-"));
test.after(() => fs.rmSync(TMP, { recursive: true, force: true }));

function tmpMedia(name = "render.mov") {
  const dir = fs.mkdtempSync(path.join(TMP, "render-"));
  const p = path.join(dir, name);
  fs.writeFileSync(p, "not really a movie");
  return p;
}

/** The host on a mock of `raw` (mock `options` beside importDelay 0), with a render imported. */
async function withImportedRender(raw, options = {}) {
  const r = new HostRunner(raw, Object.assign({ importDelay: 0 }, options));
  const bridge = bridgeFor(r);
  const media = tmpMedia();
  await bridge.importMedia(media);
  return { r, bridge, media, seq: core.readSequence(r.call("facts")) };
}

test("host.jsx is ECMAScript 3 and does not use JSON", () => {
  const ast = acorn.parse(SOURCE, { ecmaVersion: 3, sourceType: "script" });
  assert.ok(ast.body.length > 0);
  const names = new Set(), members = new Set();
  (function walk(node) {
    if (!node || typeof node.type !== "string") return;
    if (node.type === "Identifier") names.add(node.name);
    if (node.type === "MemberExpression" && !node.computed) members.add(node.property.name);
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") walk(v);
    }
  })(ast);
  assert.ok(!names.has("JSON"), "ExtendScript has no reliable JSON global");
  // ES5 library members (Array#forEach…, String#trim, Object.keys, Date.now, Function#bind): not in ExtendScript.
  for (const es5 of ["forEach", "map", "filter", "reduce", "reduceRight", "some", "every", "trim", "keys", "isArray", "bind",
    "now", "create", "defineProperty", "getPrototypeOf", "toISOString"]) {
    assert.ok(!members.has(es5), `ES5 member .${es5} is not in ExtendScript`);
  }
  assert.ok(!/\b(let|const)\s/.test(SOURCE.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "")));
  // An ES5/ES6 construct is refused by the ES3 parser (the check above is not vacuous).
  assert.throws(() => acorn.parse("var f = () => 1;", { ecmaVersion: 3 }));
  assert.throws(() => acorn.parse("var o = { get x() { return 1; } };", { ecmaVersion: 3 }));
});

test("the mock refuses members the reference does not list", () => {
  const r = new HostRunner(loadSequence("example_25"));
  assert.equal(r.evalScript("app.project.activeSequence.getTrackCount()"), "EvalScript error.");
  assert.match(r.dom.violations[0], /Sequence\.getTrackCount/);
  assert.ok(isDocumented("Sequence", "zeroPoint"));
  assert.ok(isDocumented("ProjectItem", "findItemsMatchingMediaPath"));
  assert.ok(!isDocumented("ProjectItem", "getFootageInterpretation"));
});

for (const name of allSequences()) {
  test(`facts of ${name}: every tick exact, only documented members`, () => {
    const fixture = withState(loadSequence(name), { playhead: 17, inFrame: 10, outFrame: 58, select: [0, 0] });
    const r = new HostRunner(fixture);
    const facts = JSON.parse(r.evalScript("ShotForgeHost.facts()"));
    assert.deepEqual(r.dom.violations, []);
    assert.equal(facts.ok, true);
    const s = facts.sequence;
    assert.equal(s.timebase, fixture.timebase);
    assert.equal(s.zeroPoint, fixture.zeroPoint);
    assert.equal(s.playhead, fixture.playhead);
    assert.equal(s.inPoint, fixture.inPoint);
    assert.equal(s.outPoint, fixture.outPoint);
    assert.equal(s.videoTracks.length, fixture.videoTracks.length);
    s.videoTracks.forEach((t, i) => {
      const want = fixture.videoTracks[i].clips.slice().sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1));
      assert.equal(t.clips.length, want.length);
      t.clips.forEach((c, j) => {
        for (const k of ["name", "start", "end", "inPoint", "outPoint", "mediaPath", "selected"]) assert.equal(c[k], want[j][k], `${k} of V${i + 1} clip ${j}`);
      });
    });
    // And the panel reads them as exact frames, zero point excluded from record frames.
    const seq = core.readSequence(facts);
    assert.equal(seq.zeroFrame, frames(fixture.zeroPoint, fixture.timebase));
    assert.equal(seq.playhead, 17);
    assert.deepEqual([seq.inFrame, seq.outFrame], [10, 58]);
  });
}

test("no sequence open: a clear error, not an EvalScript error", () => {
  const r = new HostRunner(null);
  const res = JSON.parse(r.evalScript("ShotForgeHost.facts()"));
  assert.equal(res.ok, false);
  assert.equal(res.error.code, "no_sequence");
});

test("unset In/Out (Premiere's -400000 s) reads as no range", () => {
  const r = new HostRunner(loadSequence("example_2997"));
  const seq = core.readSequence(r.call("facts"));
  assert.equal(seq.inFrame, null);
  assert.throws(() => core.findTarget(seq, "generate", "auto"), /mark an In and an Out/);
});

test("evalScript arguments survive Windows paths, quotes and line separators", () => {
  const odd = 'C:\\Users\\Zoë "Z" O\'Neil\\Media\u2028x\\a.mov';
  const r = new HostRunner(loadSequence("example_25"));
  const out = r.evalScript(`ShotForgeHost._json(${lit(odd)})`);
  assert.equal(JSON.parse(out), odd);
  assert.deepEqual(r.dom.violations, []);
});

test("import: missing file is refused before importFiles; a real one is found after bounded retries", async () => {
  const r = new HostRunner(loadSequence("example_25"), { importDelay: 3 });
  const bridge = bridgeFor(r);
  await assert.rejects(bridge.importMedia("/nowhere/x.mov"), (e) => e.code === "media_missing");
  const media = tmpMedia();
  const res = await bridge.importMedia(media);
  assert.ok(res.waited >= 1, "the item is not there straight after importFiles");
  assert.deepEqual(r.dom.violations, []);
  // It went into a ShotForge bin.
  const bin = r.dom.root.children.find((c) => c.type === 2 && c.name === "ShotForge");
  assert.ok(bin && bin.children.some((c) => c.mediaPath === media));
  // A second import of the same file is not duplicated.
  await bridge.importMedia(media);
  assert.equal(r.dom.projectItems.filter((p) => p.mediaPath === media && p.subIn === null).length, 1);
});

test("import of a file Premiere shows offline is refused, also when it is already in the project", async () => {
  const r = new HostRunner(loadSequence("example_25"), { importDelay: 1 });
  r.dom.importsOffline = true;
  const bridge = bridgeFor(r);
  const media = tmpMedia();
  await assert.rejects(bridge.importMedia(media), (e) => e.code === "media_offline" && e.message.includes(media));
  await assert.rejects(bridge.importMedia(media), (e) => e.code === "media_offline");
  assert.equal(r.dom.mutations.length, 0);
});

test("import gives up after the bounded number of checks", async () => {
  const r = new HostRunner(loadSequence("example_25"), { importDelay: 1000 });
  const bridge = bridgeFor(r, { importTries: 4 });
  await assert.rejects(bridge.importMedia(tmpMedia()), (e) => e.code === "import_timeout");
  assert.equal(r.dom.mutations.length, 0);
});

const TAKE = { name: "ShotForge extend take 1", colorLabel: 2 };

for (const name of ["example_23976", "example_25", "example_2997"]) {
  test(`place at ${name}: exact record ticks read back, source range as a subclip, labelled`, async () => {
    const fixture = loadSequence(name);
    const r = new HostRunner(fixture, { importDelay: 1 });
    const bridge = bridgeFor(r);
    const seq = core.readSequence(r.call("facts"));
    const media = tmpMedia();
    // Frames whose exact seconds are not representable: a naive float would land a frame early.
    // Frames 1607-1654 are free on V3 only above its content... the plan finds the free track.
    const steps = plan.planPlacements(seq, [{ media, track: 4, record_frame: 1607, source_in: 12, frames: 48 }], { targetTrack: 0 });
    await bridge.importMedia(media);
    const got = await bridge.place(seq, steps[0], TAKE, []);
    assert.deepEqual(r.dom.violations, []);
    const tpf = BigInt(fixture.timebase);
    assert.equal(got.start, String(1607n * tpf));
    assert.equal(got.end, String((1607n + 48n) * tpf));
    assert.equal(got.inPoint, String(12n * tpf));
    assert.equal(got.name, TAKE.name);
    assert.equal(got.label, 2);
    const clip = r.dom.snapshot()[steps[0].track].find((c) => c.start === String(1607n * tpf));
    assert.equal(clip.mediaPath, media);
    assert.deepEqual(r.dom.destroyed, []);
  });
}

test("place refuses a range that is not free on the live track (clip or transition), and places nothing", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 40, end: 84 }],
    transitions: [{ start: 34, end: 38 }] }] });
  const r = new HostRunner(raw, { importDelay: 0 });
  const bridge = bridgeFor(r);
  const media = tmpMedia();
  await bridge.importMedia(media);
  const before = r.dom.fullSnapshot();
  const tpf = BigInt(raw.timebase);
  const step = (from, to) => ({ media, track: 0, recordTicks: String(BigInt(from) * tpf), recordEndTicks: String(BigInt(to) * tpf),
    sourceInTicks: "0", sourceOutTicks: String(BigInt(to - from) * tpf) });
  const seq = core.readSequence(r.call("facts"));
  await assert.rejects(bridge.place(seq, step(37, 39), TAKE, []), (e) => e.code === "not_free" && /transition/.test(e.message));
  await assert.rejects(bridge.place(seq, step(30, 33), TAKE, []), (e) => e.code === "not_free" && /'A'/.test(e.message));
  // A confirmation for other occupants than those there now does not count either.
  await assert.rejects(bridge.place(seq, step(36, 44), TAKE, [{ kind: "clip", nodeId: "x", name: "A", start: "0", end: "1" }]),
    (e) => e.code === "not_free");
  assert.equal(r.dom.fullSnapshot(), before);
  assert.equal(r.dom.mutations.length, 0);
});

test("a placement landing a frame off is removed again by the host and reported with what landed", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }, {}] });
  const { r, bridge, media, seq } = await withImportedRender(raw);
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 10 }]);
  const before = r.dom.fullSnapshot();
  r.dom.landOff = { nth: 1, frames: 1 };
  await assert.rejects(bridge.place(seq, step, TAKE, []), (e) => e.code === "placement_mismatch" &&
    e.reply.landed.start === String(37n * BigInt(raw.timebase)));
  assert.equal(r.dom.fullSnapshot(), before);
  assert.equal(r.dom.mutations.filter((m) => m.removed).length, 1, "what landed was removed");
});

test("keepLoaded makes the panel persistent under the Extension Id its manifest declares", () => {
  const r = new HostRunner(makeSequence({ tracks: [{}] }), { importDelay: 0 });
  assert.deepEqual(r.call("keepLoaded"), { ok: true, persistent: true });
  const manifest = fs.readFileSync(path.join(__dirname, "..", "..", "CSXS", "manifest.xml"), "utf8");
  const [, id] = manifest.match(/<Extension Id="([^"]+)"/);
  assert.deepEqual(r.dom.persistent, { [id]: 1 });
  assert.deepEqual(r.dom.violations, []);
});

for (const itemStartTicks of ["0", String(3600n * 254016000000n)]) {
  const base = itemStartTicks === "0" ? "from the media's first frame" : "from a 01:00:00:00 timecode";
  test(`a subclip's in/out counted ${base}: one as asked is placed; one that spans more is never overwritten with, the clip after the gap stays whole`, async () => {
    const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 46, end: 84 }] }] });
    const { r, bridge, media, seq } = await withImportedRender(raw, { itemStartTicks });
    const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 5 }]);
    const got = await bridge.place(seq, step, TAKE, []);
    assert.deepEqual([got.start, got.end], [step.recordTicks, step.recordEndTicks]);
    const [rest] = plan.planPlacements(core.readSequence(r.call("facts")), [{ media, track: 0, record_frame: 41, source_in: 5, frames: 5 }]);
    const before = r.dom.fullSnapshot();
    r.dom.subclipLonger = { frames: 2 };
    const tick = (frames) => String(BigInt(frames) * BigInt(raw.timebase));
    const from = (frames) => String(BigInt(itemStartTicks) + BigInt(tick(frames)));
    await assert.rejects(bridge.place(seq, rest, TAKE, []), (e) => e.code === "placement_mismatch" &&
      e.message.startsWith(`Premiere made the picture of the subclip of ${media} over source ticks ${from(5)}-${from(12)}, longer ` +
        `than the ${tick(5)}-${tick(10)} asked for; nothing was placed; with the createSubClip flags the other way round, nothing ` +
        "landed on V1"), "the first try's reason first, then what the other way round met");
    assert.equal(r.dom.fullSnapshot(), before);
    assert.deepEqual(r.dom.destroyed, []);
  });
}

test("a subclip of the whole media (a render placed whole) is placed: its spans being the media's is what was asked", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }, {}] });
  const { bridge, media, seq } = await withImportedRender(raw);
  const [step] = plan.planPlacements(seq, [{ media, track: 1, record_frame: 0, source_in: 0, frames: 250 }]);  // the mock's 10 s
  const got = await bridge.place(seq, step, TAKE, []);
  assert.deepEqual([got.start, got.end, got.inPoint], [step.recordTicks, step.recordEndTicks, "0"]);
});

test("a subclip whose in/out Premiere answers as the whole media's is still placed (that answer says nothing), and read back", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }] });
  const { bridge, media, seq } = await withImportedRender(raw, { subclipPoints: "media" });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 3, frames: 10 }]);
  const got = await bridge.place(seq, step, TAKE, []);
  assert.deepEqual([got.start, got.end, got.inPoint], [step.recordTicks, step.recordEndTicks, step.sourceInTicks]);
});

for (const absentTypePoints of ["media", "subclip", "unset"]) {
test(`createSubClip flags read the other way round (the guide's order), a lacking picture's in/out read as ${absentTypePoints === "media" ? "the media's" : absentTypePoints === "subclip" ? "the subclip's" : "not set"}: the audio-only try is removed, the clip lands video only`, async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }], audio: [[{ name: "A", start: 0, end: 84 }], []] });
  const { r, bridge, media, seq } = await withImportedRender(raw, { subclipFlags: "audioVideo", absentTypePoints });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 10 }]);
  const audioBefore = JSON.stringify(JSON.parse(r.dom.fullSnapshot()).audio);
  const got = await bridge.place(seq, step, TAKE, []);
  assert.deepEqual([got.start, got.end], [step.recordTicks, step.recordEndTicks]);
  assert.ok(r.dom.mutations.some((m) => m.track === "A1"), "the first try (audio only) had landed on the free A2");
  assert.equal(JSON.stringify(JSON.parse(r.dom.fullSnapshot()).audio), audioBefore, "and was removed again: no audio stays");
  assert.deepEqual(r.dom.destroyed, []);
  // The order is remembered: the next placement makes one subclip, video only, at once.
  const subs = () => r.dom.projectItems.filter((p) => p.subIn !== null).length;
  const n = subs();
  const [next] = plan.planPlacements(core.readSequence(r.call("facts")), [{ media, track: 0, record_frame: 46, source_in: 10, frames: 5 }]);
  await bridge.place(seq, next, TAKE, []);
  assert.equal(subs(), n + 1);
  assert.equal(JSON.stringify(JSON.parse(r.dom.fullSnapshot()).audio), audioBefore);
  assert.deepEqual(r.dom.violations, []);
});
}

test("a confirmed overwrite covers only the very items confirmed: another clip in a confirmed span is refused", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: 84 }] }] });
  const { r, bridge, media, seq } = await withImportedRender(raw);
  const steps = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12 }], { placement: "overwrite" });
  const confirmed = plan.confirmedOn(plan.destroyedBy(steps), 0);
  // The editor replaces B by C (same span) after confirming: C was never confirmed.
  const b = r.dom.sequence.tracks[0].clips[1];
  r.dom.sequence.tracks[0].clips[1] = Object.assign({}, b, { name: "C", nodeId: "c-1" });
  const before = r.dom.fullSnapshot();
  await assert.rejects(bridge.place(seq, steps[0], TAKE, confirmed), (e) => e.code === "not_free" && /'C'/.test(e.message));
  // Nor does a clip that only shares B's name while B itself is still there.
  r.dom.sequence.tracks[0].clips[1] = b;
  r.dom.sequence.tracks[0].clips.push(Object.assign({}, b, { nodeId: "b-copy", start: String(90n * BigInt(raw.timebase)), end: String(95n * BigInt(raw.timebase)) }));
  const wide = plan.planPlacements(core.readSequence(r.call("facts")), [{ media, track: 0, record_frame: 36, source_in: 0, frames: 60 }], { placement: "overwrite" });
  const onlyB = confirmed.map((o) => Object.assign({}, o, { end: String(96n * BigInt(raw.timebase)) }));
  await assert.rejects(bridge.place(seq, wide[0], TAKE, onlyB), (e) => e.code === "not_free");
  assert.equal(r.dom.mutations.length, 0);
  assert.deepEqual(r.dom.destroyed, []);
  r.dom.sequence.tracks[0].clips.pop();
  assert.equal(r.dom.fullSnapshot(), before.replace('"C"', '"B"'));
  // The confirmed B itself is overwritten.
  const got = await bridge.place(seq, steps[0], TAKE, confirmed);
  assert.equal(got.start, steps[0].recordTicks);
  assert.deepEqual(r.dom.destroyed.map((d) => d.name), ["B"]);
});

test("the DOM throwing after the overwrite: what landed is removed again, the sequence is as before", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }] });
  const { r, bridge, media, seq } = await withImportedRender(raw);
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 10 }]);
  const before = r.dom.fullSnapshot();
  r.dom.throwOn = "ProjectItem.getColorLabel"; // read after the clip is on the track
  await assert.rejects(bridge.place(seq, step, TAKE, []), (e) => e.code === "host_error" && /removed again/.test(e.message));
  assert.equal(r.dom.fullSnapshot(), before);
  assert.equal(r.dom.mutations.filter((m) => m.removed).length, 1);
});

test("removeClip takes off only the take's clip: an editor's clip with the same name and slot but other media stays", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }] });
  const { r, bridge, media, seq } = await withImportedRender(raw);
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 10 }]);
  const got = await bridge.place(seq, step, TAKE, []);
  const placed = r.dom.sequence.tracks[0].clips.find((c) => c.name === TAKE.name);
  placed.item = r.dom.itemFor("/media/other.mov"); // the editor's look-alike: same name and slot, another file
  assert.deepEqual(await bridge.removeClip(Object.assign({ track: 0 }, got)), { ok: true, removed: false });
  assert.ok(r.dom.sequence.tracks[0].clips.includes(placed));
  placed.item = r.dom.rawOf.get(r.dom.projectItemView(r.dom.projectItems.find((p) => p.mediaPath === media && p.subIn !== null)));
  assert.deepEqual(await bridge.removeClip(Object.assign({ track: 0 }, got)), { ok: true, removed: true });
});

test("mock: Sequence.overwriteClip truncates seconds to the frame, so exact seconds can land a frame early", () => {
  // The trap the quarter frame in sfSecondsArg guards against (CEP-Resources#314): find a frame at
  // 29.97 whose exact seconds, as a float, fall short of it, and place there with the plain value.
  const tpf = 8475667200n;
  let f = 1n;
  while (BigInt(Math.floor((Number(f * tpf) / 254016000000) * 254016000000)) >= f * tpf) f += 1n;
  const raw = makeSequence({ timebase: String(tpf), tracks: [{}] });
  const m = new PremiereMock(raw);
  const item = m.globals.app.project.rootItem.createBin("b"); // any ProjectItem view
  m.rawOf.get(item).type = 1;
  m.globals.app.project.activeSequence.overwriteClip(item, Number(f * tpf) / 254016000000, 0, 0);
  assert.equal(m.sequence.tracks[0].clips[0].start, String((f - 1n) * tpf), "a frame early");
});

test("markers: created at exact ticks with name and comments, read back, removed by guid", async () => {
  const raw = makeSequence({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }] });
  const r = new HostRunner(raw);
  const bridge = bridgeFor(r);
  const seq = core.readSequence(r.call("facts"));
  const tpf = BigInt(raw.timebase);
  const m = await bridge.addMarker(seq, String(36n * tpf), String(48n * tpf), "ShotForge extend take 1", "job: j1\nseed: 7");
  assert.equal(m.start, String(36n * tpf));
  assert.equal(m.end, String(48n * tpf));
  const facts = r.call("facts");
  assert.deepEqual(facts.sequence.markers.map((x) => [x.name, x.comments]), [["ShotForge extend take 1", "job: j1\nseed: 7"]]);
  r.dom.removeRefused = true;
  await assert.rejects(bridge.removeMarker(m), (e) => e.code === "not_removed");
  r.dom.removeRefused = false;
  assert.deepEqual(await bridge.removeMarker(m), { ok: true, removed: true });
  assert.equal(r.call("facts").sequence.markers.length, 0);
  assert.deepEqual(r.dom.violations, []);
});

test("seconds-based placement survives Premiere's frame truncation for every frame of an hour at 29.97", () => {
  // sfSecondsArg adds a quarter frame: floor(ticks(seconds)) snaps back to the intended frame.
  const r = new HostRunner(loadSequence("example_2997"));
  const tpf = 8475667200n;
  for (let f = 0n; f < 108000n; f += 7n) {
    const sec = Number(r.evalScript(`ShotForgeHost._secondsArg(${lit(String(f * tpf))}, ${lit(String(tpf))})`));
    const t = BigInt(Math.floor(sec * 254016000000));
    assert.equal(t / tpf, f);
  }
});

test("place on a track that does not exist is refused (Premiere would silently do nothing)", async () => {
  const r = new HostRunner(loadSequence("example_25"), { importDelay: 0 });
  const media = tmpMedia();
  await bridgeFor(r).importMedia(media);
  const res = r.call("place", media, 9, "0", "10160640000", "0", "10160640000", "10160640000", "x", 2, "", []);
  assert.equal(res.ok, false);
  assert.equal(res.error.code, "no_such_track");
  assert.equal(r.dom.mutations.length, 0);
});

test("place refuses a different sequence or rate than the job was made for", async () => {
  const fixture = loadSequence("example_25");
  const r = new HostRunner(fixture, { importDelay: 0 });
  const media = tmpMedia();
  await bridgeFor(r).importMedia(media);
  let res = r.call("place", media, 0, "0", "10160640000", "0", "10160640000", fixture.timebase, "x", 2, "another-sequence", "");
  assert.equal(res.error.code, "sequence_changed");
  res = r.call("place", media, 0, "0", "10160640000", "0", "10160640000", "8475667200", "x", 2, fixture.id, "");
  assert.equal(res.error.code, "sequence_changed");
  assert.equal(r.dom.mutations.length, 0);
});

test("an ExtendScript exception inside the host comes back as an error object", () => {
  const r = new HostRunner(loadSequence("example_25"));
  r.dom.sequence.tracks[1].clips[0].start = "garbage"; // the DOM itself throws while the host reads
  const res = JSON.parse(r.evalScript("ShotForgeHost.facts()"));
  assert.equal(res.ok, false);
  assert.equal(res.error.code, "host_error");
  assert.match(res.error.message, /reading the sequence failed/);
});

test("mock: the PremiereMock snapshot matches the fixture clip count", () => {
  const m = new PremiereMock(loadSequence("edl_25"));
  assert.equal(m.snapshot()[0].length, 4);
});

test("every host entry point answers JSON {ok: ...}, never an EvalScript error: no sequence, no arguments, garbage", () => {
  const entries = ["facts", "importMedia", "findItem", "place", "removeClip", "addMarker", "removeMarker", "fileExists", "ping"];
  const argSets = [[], ["x", "y", "z", "w", "v", "u", "t", "s", "r", "q", "p", "o"], [null, -1, "12a", {}, [], 0, "", "", 99, "", [{}], 7]];
  for (const seq of [null, loadSequence("example_25")]) {
    const r = new HostRunner(seq, { importDelay: 0 });
    for (const fn of entries) {
      for (const args of argSets) {
        const out = r.evalScript(`ShotForgeHost.${fn}(${args.map((a) => JSON.stringify(a)).join(", ")})`);
        assert.notEqual(out, "EvalScript error.", `${fn}(${JSON.stringify(args)}): ${r.lastError}`);
        const reply = JSON.parse(out);
        assert.equal(typeof reply.ok, "boolean", `${fn} answers {ok}`);
      }
    }
    assert.equal(r.dom.mutations.length, 0, "garbage changes nothing");
  }
});
