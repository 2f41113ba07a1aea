/* Finding the shot, the gap and the range the way an editor means them, and retimed clips' OTIO. */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const core = require("../../js/sf_core");
const { makeSequence } = require("../helpers");

const read = (spec) => core.readSequence({ sequence: makeSequence(spec) });

test("auto track skips a title, an adjustment layer and a nested sequence above the shot", () => {
  const s = read({ playhead: 10, tracks: [
    { clips: [{ name: "A", start: 0, end: 36 }] },
    { clips: [{ name: "Nest", start: 0, end: 40, media: "", nested: true }] },
    { clips: [{ name: "Adjustment Layer", start: 0, end: 50, media: "" }] },
    { clips: [{ name: "Title", start: 5, end: 30, media: "" }] },
  ] });
  const t = core.findTarget(s, "extend", "auto");
  assert.equal(t.clip.name, "A");
  assert.equal(t.track, 0);
  // Chosen explicitly, a title is refused with the reason.
  assert.throws(() => core.findTarget(s, "extend", 3), (e) => e.code === "not_a_shot" && /'Title' on V4 has no media file/.test(e.message));
  assert.throws(() => core.findTarget(s, "extend", 1), /nested sequence/);
});

test("a selected title is not a shot; a selected clip under a title is", () => {
  let s = read({ playhead: 10, tracks: [
    { clips: [{ name: "A", start: 0, end: 36, selected: true }] },
    { clips: [{ name: "Title", start: 0, end: 36, media: "", selected: true }] },
  ] });
  assert.equal(core.findTarget(s, "extend", "auto").clip.name, "A");
  s = read({ playhead: 10, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }, { clips: [{ name: "Title", start: 0, end: 36, media: "", selected: true }] }] });
  assert.throws(() => core.findTarget(s, "extend", "auto"), /'Title' on V2 has no media file/);
});

test("disabled clips are not shots: the enabled one below is used, a lone disabled one is refused", () => {
  let s = read({ playhead: 10, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }, { clips: [{ name: "B", start: 0, end: 36, disabled: true }] }] });
  assert.equal(core.findTarget(s, "outpaint", "auto").clip.name, "A");
  s = read({ playhead: 10, tracks: [{ clips: [{ name: "B", start: 0, end: 36, disabled: true }] }] });
  assert.throws(() => core.findTarget(s, "extend", "auto"), /'B' on V1 is disabled/);
});

test("a gap with a transition at one side is still the gap between the two clips", () => {
  const s = read({ playhead: 45, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 60, end: 84 }],
    transitions: [{ name: "Dip to Black", start: 30, end: 36 }] }] });
  const t = core.findTarget(s, "fill_gap", "auto");
  assert.deepEqual([t.gap.start, t.gap.end, t.track], [36, 60, 0]);
  assert.deepEqual(s.tracks[0].transitions.map((x) => [x.name, x.start, x.end]), [["Dip to Black", 30, 36]]);
});

test("generate on In/Out: [in, out) on the chosen track", () => {
  const s = read({ inFrame: 10, outFrame: 34, playhead: 12, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }, {}] });
  assert.deepEqual(core.findTarget(s, "generate", 1).range, [10, 34]);
});

// The server's convention (otio_tools/media.py): source_range.duration = record duration,
// source_range.start_time = the first (lowest) media frame of the span, span = duration x |speed|,
// LinearTimeWarp.time_scalar = (reversed ? -1 : 1) * speed.
for (const [label, speed, reversed, scalar] of [["2x", 2, false, 2], ["0.5x", 0.5, false, 0.5], ["reversed", 1, true, -1], ["reversed 2x", 2, true, -2]]) {
  test(`a ${label} clip's OTIO: record duration, lowest media frame, LinearTimeWarp ${scalar}`, () => {
    const s = read({ playhead: 5, tracks: [{ clips: [{ name: "R", start: 0, end: 40, in: 100, speed, reversed, selected: true }] }] });
    const { otio } = core.buildRequest(s, { operation: "extend", track: "auto", frames: 4 });
    const clip = otio.tracks.children[0].children[0];
    assert.equal(clip.source_range.duration.value, 40);
    assert.equal(clip.source_range.start_time.value, 100);
    assert.deepEqual(clip.effects.map((e) => [e.OTIO_SCHEMA, e.time_scalar]), [["LinearTimeWarp.1", scalar]]);
    // The reference covers the whole span the clip plays.
    assert.ok(clip.media_references.DEFAULT_MEDIA.available_range.duration.value >= 100 + 40 * speed);
  });
}

test("a reversed clip reported with inPoint above outPoint, or with a negative speed, gives the same OTIO", () => {
  const raw = makeSequence({ playhead: 5, tracks: [{ clips: [{ name: "R", start: 0, end: 40, in: 100, speed: 2, selected: true }] }] });
  const c = raw.videoTracks[0].clips[0];
  [c.inPoint, c.outPoint] = [c.outPoint, c.inPoint];
  c.speed = -2;
  const { otio } = core.buildRequest(core.readSequence({ sequence: raw }), { operation: "extend", track: "auto", frames: 4 });
  const clip = otio.tracks.children[0].children[0];
  assert.equal(clip.source_range.start_time.value, 100);
  assert.equal(clip.effects[0].time_scalar, -2);
});
