/* The panel's editorial core: ticks -> frames, targets, the request OTIO, placement plans. */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const core = require("../../js/sf_core");
const plan = require("../../js/sf_plan");
const { loadSequence, withState } = require("../helpers");

function seqOf(name, state) {
  return core.readSequence({ sequence: withState(loadSequence(name), state || {}) });
}

test("rates from timebases are exact", () => {
  assert.deepEqual(core.rateOf("10594584000"), { num: 24000n, den: 1001n });
  assert.deepEqual(core.rateOf("10160640000"), { num: 25n, den: 1n });
  assert.deepEqual(core.rateOf("8475667200"), { num: 30000n, den: 1001n });
  assert.deepEqual(core.rateOf("4237833600"), { num: 60000n, den: 1001n });
  assert.equal(core.otioRate(core.rateOf("10594584000")), 24000 / 1001);
});

test("ticks past 2^53 (a 10:00:00:00 zero point at 25) stay exact", () => {
  const s = seqOf("example_25");
  assert.equal(s.zeroFrame, 900000);
  assert.ok(s.zeroTicks > BigInt(Number.MAX_SAFE_INTEGER));
  assert.equal(core.ticksString(900001, "10160640000"), "9144586160640000");
  assert.equal(core.frameAt("9144586160640001", "10160640000"), 900001, "one tick into a frame is that frame");
  assert.equal(core.frameAt("9144586160639999", "10160640000"), 900000, "one tick before it is the frame before");
  assert.equal(core.framesValue("9144586160640000", "10160640000"), 900001);
});

test("file URLs for POSIX, Windows and UNC paths, and back", () => {
  const cases = {
    "/Volumes/Media/a b#1%.mov": "file:///Volumes/Media/a%20b%231%25.mov",
    "D:\\media\\sc01 sh010.mov": "file:///D:/media/sc01%20sh010.mov",
    "\\\\server\\share\\clip.mov": "file://server/share/clip.mov",
    "/tmp/Zoë.mov": "file:///tmp/Zo%C3%AB.mov",
  };
  for (const [p, url] of Object.entries(cases)) {
    assert.equal(core.fileUrl(p), url);
    // A standard URL parser reads back the same host and path.
    const u = new URL(core.fileUrl(p)), back = p.replace(/\\/g, "/");
    assert.equal((u.host ? "//" + u.host : "") + decodeURIComponent(u.pathname).replace(/^\/([A-Za-z]:)/, "$1"), back);
  }
});

test("extend: the selected clip wins; else the clip under the playhead", () => {
  let s = seqOf("example_2997", { playhead: 200, select: [3, 1] });
  let t = core.findTarget(s, "extend", "auto");
  assert.equal(t.track, 3);
  assert.equal(t.clip.start, 1164);
  assert.equal(t.frame, 1164); // playhead is not on it: its first frame
  s = seqOf("example_2997", { playhead: 200 });
  t = core.findTarget(s, "extend", "auto");
  assert.equal(t.track, 1); // topmost clip with media under the playhead (the V3 title has none)
  assert.throws(() => core.findTarget(s, "extend", 2), (e) => e.code === "not_a_shot");
  t = core.findTarget(s, "extend", 1);
  assert.equal(t.clip.start, 165);
  assert.equal(t.frame, 200);
  assert.throws(() => core.findTarget(s, "extend", 0), /none is under the playhead/);
  assert.throws(() => core.findTarget(s, "extend", 7), /does not exist/);
});

test("extend on a clip without media (a generator) is refused", () => {
  const s = seqOf("generators_23976", { playhead: 300 });
  assert.throws(() => core.findTarget(s, "extend", "auto"), (e) => e.code === "not_a_shot");
});

test("fill_gap: the gap under the playhead between two clips", () => {
  const s = seqOf("example_25", { playhead: 130 });
  const t = core.findTarget(s, "fill_gap", "auto");
  assert.equal(t.track, 1);
  assert.deepEqual([t.gap.start, t.gap.end], [113, 165]);
  assert.equal(t.frame, 130);
  // Before the first clip of V1 is not between two clips; on a clip is not a gap.
  assert.throws(() => core.findTarget(s, "fill_gap", 0), (e) => e.code === "no_gap");
  const on = seqOf("example_25", { playhead: 20 });
  assert.throws(() => core.findTarget(on, "fill_gap", 1), (e) => e.code === "no_gap");
});

test("generate: the In/Out range, [in, out)", () => {
  const s = seqOf("example_23976", { inFrame: 600, outFrame: 672, playhead: 610 });
  const t = core.findTarget(s, "generate", "auto");
  assert.deepEqual(t.range, [600, 672]);
  assert.equal(t.track, 0);
});

for (const name of ["example_23976", "example_25", "example_2997"]) {
  test(`request for ${name}: gaps and clips frame-exact, zero point as global_start_time`, () => {
    const s = seqOf(name, { playhead: 130 });
    const { otio, target } = core.buildRequest(s, { operation: "fill_gap", track: "auto", prompt: "bridge", seed: 3 });
    assert.equal(otio.OTIO_SCHEMA, "Timeline.1");
    assert.deepEqual(otio.global_start_time, { OTIO_SCHEMA: "RationalTime.1", rate: s.fps, value: s.zeroFrame });
    const sf = otio.metadata.shotforge;
    assert.deepEqual(sf, { version: 1, operation: "fill_gap", track: 1, frame: 130, prompt: "bridge", negative_prompt: "",
      seed: 3, engine: "auto", placement: "auto" });
    assert.equal(target.gap.start, 113);
    const v2 = otio.tracks.children[1];
    assert.deepEqual(v2.children.map((c) => [c.OTIO_SCHEMA, c.source_range.start_time.value, c.source_range.duration.value]),
      [["Gap.1", 0, 13], ["Clip.2", 0, 100], ["Gap.1", 0, 52], ["Clip.2", 0, 157], ["Clip.2", 0, 235]]);
    const ref = v2.children[1].media_references.DEFAULT_MEDIA;
    assert.equal(ref.target_url, "file:///D:/media/sc01_sh010_anim.mov");
    assert.equal(otio.tracks.children.length, 4);
    assert.equal(otio.tracks.children[2].children[1].source_range.start_time.value, 108000);
  });
}

test("request options: extend, outpaint, generate, reference frame, validation", () => {
  const s = seqOf("example_25", { playhead: 140, inFrame: 600, outFrame: 650, select: [1, 1] });
  let sf = core.buildRequest(s, { operation: "extend", track: "auto", side: "head", frames: 24 }).otio.metadata.shotforge;
  assert.equal(sf.side, "head");
  assert.equal(sf.frames, 24);
  assert.equal(sf.frame, 165);
  assert.equal(sf.placement, "auto");
  sf = core.buildRequest(s, { operation: "outpaint", track: "auto", canvas: [1080, 1920] }).otio.metadata.shotforge;
  assert.deepEqual(sf.canvas, [1080, 1920]);
  assert.equal(sf.placement, "auto");
  assert.throws(() => core.buildRequest(s, { operation: "outpaint", track: "auto", canvas: [8, 8], placement: "replace" }), /auto, above or overwrite/);
  sf = core.buildRequest(s, { operation: "generate", track: 2, prompt: "city at night", useReferenceFrame: true, canvas: [1920, 1080] }).otio.metadata.shotforge;
  assert.deepEqual(sf.range, [600, 650]);
  assert.equal(sf.reference_frame, 140);
  assert.equal(sf.track, 2);
  assert.throws(() => core.buildRequest(s, { operation: "extend", track: "auto", frames: 0 }), /at least 1/);
  assert.throws(() => core.buildRequest(s, { operation: "extend", track: "auto", frames: 2.5 }), /whole number/);
  assert.throws(() => core.buildRequest(s, { operation: "outpaint", track: "auto" }), /canvas/);
  assert.throws(() => core.buildRequest(s, { operation: "extend", track: "auto", frames: 5, seed: -1 }), /seed/);
});

test("speed changes and disabled clips are carried into the OTIO", () => {
  const raw = withState(loadSequence("example_25"), { select: [1, 0] });
  raw.videoTracks[1].clips[0].speed = 2;
  raw.videoTracks[1].clips[1].disabled = true;
  const { otio } = core.buildRequest(core.readSequence({ sequence: raw }), { operation: "extend", track: "auto", frames: 5 });
  const [, fast, , off] = otio.tracks.children[1].children;
  assert.equal(fast.effects[0].OTIO_SCHEMA, "LinearTimeWarp.1");
  assert.equal(fast.effects[0].time_scalar, 2);
  assert.equal(off.enabled, false);
});

test("timecode for the editor: non-drop, and drop-frame at 29.97/59.94 when the sequence shows it", () => {
  const r2997 = core.rateOf("8475667200"), r5994 = core.rateOf("4237833600"), r25 = core.rateOf("10160640000");
  assert.equal(core.timecode(90000 + 36, r25), "01:00:01:11");
  assert.equal(core.timecode(1800, r2997), "00:01:00:00");
  assert.equal(core.timecode(1800, r2997, true), "00:01:00;02");
  assert.equal(core.timecode(17982, r2997, true), "00:10:00;00");
  assert.equal(core.timecode(107892, r2997, true), "01:00:00;00");
  assert.equal(core.timecode(3600, r5994, true), "00:01:00;04");
  assert.equal(core.timecode(1800, r25, true), "00:01:12:00"); // no drop-frame at 25
  const s = core.readSequence({ sequence: Object.assign({}, loadSequence("example_2997"), { displayFormat: 102 }) });
  assert.equal(s.dropFrame, true);
});

