/* Where results go on the live sequence (js/sf_plan.js): free space only, overwrite lists. */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const core = require("../../js/sf_core");
const plan = require("../../js/sf_plan");
const { loadSequence, makeSequence } = require("../helpers");

const read = (spec) => core.readSequence({ sequence: makeSequence(spec) });

test("the server's track when it is free; both parts of an extension on it, exact ticks", () => {
  const s = core.readSequence({ sequence: loadSequence("example_2997") });
  const steps = plan.planPlacements(s, [
    { media: "/out/orig.mov", track: 1, record_frame: 557, source_in: 235, frames: 10 },
    { media: "/out/gen.mov", track: 1, record_frame: 567, source_in: 0, frames: 38 },
  ]);
  assert.deepEqual(steps.map((x) => x.track), [1, 1]);
  assert.equal(steps[0].recordTicks, String(557n * 8475667200n));
  assert.equal(steps[0].sourceInTicks, String(235n * 8475667200n));
  assert.equal(steps[1].recordEndTicks, String(605n * 8475667200n));
  assert.deepEqual(steps.map((x) => x.overwrite), [false, false]);
});

test("a taken target track: the lowest track above free over the whole range, parts kept together", () => {
  const s = read({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 40, end: 84 }] },
    { clips: [{ name: "T", start: 44, end: 50, media: "" }] }, {}] });
  // [36, 40) alone would fit on V1 and V2, [40, 48) fits on neither: both go to V3.
  const steps = plan.planPlacements(s, [{ media: "/h.mov", track: 0, record_frame: 36, source_in: 0, frames: 4 },
    { media: "/g.mov", track: 0, record_frame: 40, source_in: 0, frames: 8 }]);
  assert.deepEqual(steps.map((x) => x.track), [2, 2]);
});

test("a transition makes a range busy", () => {
  const s = read({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }], transitions: [{ start: 34, end: 38 }] }, {}] });
  assert.equal(plan.planPlacements(s, [{ media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 4 }])[0].track, 1);
  assert.equal(plan.planPlacements(s, [{ media: "/g.mov", track: 0, record_frame: 38, source_in: 0, frames: 4 }])[0].track, 0);
});

test("a new track: the lowest existing empty one above the target, else a message and no plan", () => {
  const s = core.readSequence({ sequence: loadSequence("example_25") });
  // Frames 600-650: V4 (index 3) is the lowest track above V3 free there.
  let steps = plan.planPlacements(s, [{ media: "/o.mov", track: 4, record_frame: 600, source_in: 0, frames: 50 }], { targetTrack: 2 });
  assert.equal(steps[0].track, 3);
  assert.throws(() => plan.planPlacements(s, [{ media: "/o.mov", track: 4, record_frame: 960, source_in: 0, frames: 40 }], { targetTrack: 3 }),
    (e) => e.code === "no_free_track" && /add an empty video track \(Sequence > Add Tracks\) and press Place again/.test(e.message));
  // Tracks added since the request: "a new track" is still the request's track count, and the new one is used.
  const raw = loadSequence("example_25");
  raw.videoTracks.push({ name: "Video 5", clips: [] });
  const more = core.readSequence({ sequence: raw });
  steps = plan.planPlacements(more, [{ media: "/o.mov", track: 4, record_frame: 960, source_in: 0, frames: 40 }], { requestTracks: 4, targetTrack: 3 });
  assert.equal(steps[0].track, 4);
  assert.throws(() => plan.planPlacements(more, [{ media: "/o.mov", track: 6, record_frame: 0, source_in: 0, frames: 4 }], { requestTracks: 4 }),
    (e) => e.code === "bad_placement");
});

test("overwrite is planned only when asked, and lists exactly what it destroys", () => {
  const s = read({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: 84 }], transitions: [{ start: 34, end: 38 }] }] });
  const p = [{ media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 12 }];
  assert.throws(() => plan.planPlacements(s, p, { placement: "auto" }), (e) => e.code === "no_free_track");
  const steps = plan.planPlacements(s, p, { placement: "overwrite" });
  assert.equal(steps[0].overwrite, true);
  const gone = plan.destroyedBy(steps);
  assert.deepEqual(gone.map((o) => [o.kind, o.name, o.start, o.end]), [["clip", "B", 36, 84], ["transition", "Cross Dissolve", 34, 38]]);
  // What the host checks: each item by identity (nodeId) and span, per track.
  assert.deepEqual(plan.confirmedOn(gone, 0).map((o) => [o.kind, o.name, o.start, o.end, typeof o.nodeId]),
    [["clip", "B", String(36n * 10160640000n), String(84n * 10160640000n), "string"],
      ["transition", "Cross Dissolve", String(34n * 10160640000n), String(38n * 10160640000n), "string"]]);
  assert.deepEqual(plan.confirmedOn(gone, 1), []);
});

test("two overwrite lists are the same only when they name the same items with the same spans", () => {
  const spec = (bEnd) => ({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: bEnd }] }] });
  const p = [{ media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 12 }];
  const list = (s) => plan.destroyedBy(plan.planPlacements(read(s), p, { placement: "overwrite" }));
  assert.equal(plan.sameOccupants(list(spec(84)), list(spec(84))), true);
  assert.equal(plan.sameOccupants(list(spec(84)), list(spec(80))), false, "B trimmed since");
  const renamed = list(spec(84));
  renamed[0] = Object.assign({}, renamed[0], { nodeId: "another" });
  assert.equal(plan.sameOccupants(list(spec(84)), renamed), false, "another clip in B's place");
  assert.equal(plan.sameOccupants([], list(spec(84))), false);
});

test("malformed placements are refused before anything happens", () => {
  const s = core.readSequence({ sequence: loadSequence("example_25") });
  const bad = [
    [],
    [{ media: "/o.mov", track: 0, record_frame: 1.5, source_in: 0, frames: 5 }],
    [{ media: "", track: 0, record_frame: 1, source_in: 0, frames: 5 }],
    [{ media: "/o.mov", track: 9, record_frame: 1, source_in: 0, frames: 5 }],
    [{ media: "/o.mov", track: 0, record_frame: -1, source_in: 0, frames: 5 }],
    [{ media: "/o.mov", track: 0, record_frame: 1, source_in: 0, frames: 0 }],
  ];
  for (const p of bad) assert.throws(() => plan.planPlacements(s, p), core.ShotForgeError);
});

test("original media at its own rate", () => {
  const s = core.readSequence({ sequence: loadSequence("example_23976") });
  const steps = plan.planPlacements(s, [{ media: "/o.mov", track: 0, record_frame: 586, source_in: 50, frames: 4, rate: [25, 1] }]);
  assert.equal(steps[0].sourceInTicks, String(50n * 10160640000n));
  assert.equal(plan.mediaTicksPerFrame(29.97, s), 8475667200n);
  assert.equal(plan.mediaTicksPerFrame(23.976, s), 10594584000n);
});

test("take names and numbers per operation", () => {
  assert.equal(plan.takeName("fill_gap", 3), "ShotForge fill gap take 3");
  assert.equal(plan.nextTakeNumber([{ operation: "extend", number: 2 }, { operation: "generate", number: 5 }], "extend"), 3);
  assert.equal(plan.nextTakeNumber([], "outpaint"), 1);
  // Clips already named like takes on the sequence count too (a history lost with the panel's storage).
  const s = read({ tracks: [{ clips: [{ name: "ShotForge extend take 4", start: 0, end: 10 }, { name: "ShotForge extend take 1x", start: 10, end: 20 },
    { name: "ShotForge fill gap take 9", start: 20, end: 30 }] }] });
  assert.equal(plan.nextTakeNumber([], "extend", s), 5);
  assert.equal(plan.nextTakeNumber([{ operation: "extend", number: 6 }], "extend", s), 7);
});
