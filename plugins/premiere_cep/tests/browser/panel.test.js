/*
 * The panel end to end: headless Chromium, the real page over file:// (Origin: null), the host
 * script on the mock DOM, a real ShotForge server rendering real media copies.
 */
"use strict";
const { describe, it } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");

const h = require("./harness");
const { classical, clipsOn, assertProgressShown, ticks: TICKS } = h;

const SKIP = h.skipReason();

describe("ShotForge panel in Chromium against a real server", { skip: SKIP || false, timeout: 600000 }, () => {
  const env = h.panelSuite();


  for (const key of ["e2e_25", "e2e_23976", "e2e_2997"]) {
    it(`extend tail at ${key}: real handle frames then generated frames, placed frame-exactly`, async () => {
      const seq = env.seqs[key];
      const p = await env.open(seq, { select: [0, 0], playhead: 10 });
      try {
        await p.page.click('[data-op="extend"]');
        await p.page.selectOption("#side", "tail");
        await p.page.fill("#frames", "12");
        await classical(p.page);
        const out = await h.runAndWait(p.page);
        assert.equal(out.kind, "ok", out.text + "\n" + p.consoleLines.join("\n"));
        assertProgressShown(out);
        const placements = out.record.result.placements;
        assert.equal(placements.length, 2, JSON.stringify(placements));
        const v1 = clipsOn(p.runner, 0);
        // A [0,36) untouched, handles [36,41) from the original file, generated [41,48), gap, B [60,84).
        const at = (f) => v1.find((c) => c.start === TICKS(f, seq));
        assert.equal(at(0).end, TICKS(36, seq));
        assert.equal(at(36).end, TICKS(41, seq));
        assert.equal(at(36).mediaPath, seq.videoTracks[0].clips[0].mediaPath);
        assert.equal(at(36).inPoint, TICKS(placements[0].source_in, seq));
        assert.equal(at(41).end, TICKS(48, seq));
        assert.equal(at(41).mediaPath, placements[1].media);
        assert.equal(at(41).inPoint, "0");
        assert.equal(at(60).end, TICKS(84, seq));
        // Sound: chaplin (25) has it, so both parts bring theirs onto A1 (the handles' own, then room tone);
        // the 23.976 and 29.97 media have none, so A1 stays as it was.
        const a1 = p.runner.dom.sequence.audio[0].clips.map((c) => [c.name, c.start, c.end, c.inPoint]).sort((x, y) => (BigInt(x[1]) < BigInt(y[1]) ? -1 : 1));
        const own = seq.audioTracks[0].clips.map((c) => [c.name, c.start, c.end, c.inPoint]);
        if (key === "e2e_25") {
          assert.deepEqual(placements.map((x) => x.audio_track), [0, 0]);
          assert.deepEqual(a1, [own[0], ["ShotForge extend take 1", TICKS(36, seq), TICKS(41, seq), TICKS(placements[0].source_in, seq)],
            ["ShotForge extend take 1", TICKS(41, seq), TICKS(48, seq), "0"], own[1]]);
        } else {
          assert.ok(placements.every((x) => x.audio_track == null), JSON.stringify(placements));
          assert.deepEqual(a1, own);
        }
        assert.deepEqual(p.runner.dom.violations, []);
        assert.deepEqual(Object.values(p.runner.dom.persistent), [1], "the panel asked to stay loaded when hidden");
        // The request said what the sequence holds: the zero point and the clip's record frames.
        assert.equal(out.request.global_start_time.value, Number(BigInt(seq.zeroPoint) / BigInt(seq.timebase)));
        assert.match(out.text, /Placed ‘ShotForge extend take 1’ \(2 clips\)/);
        // Progress came from the events stream, not from polling.
        assert.ok(p.requests.some((r) => /^GET \S+\/v1\/jobs\/[^/]+\/events /.test(r)), p.requests.join("\n"));
        assert.ok(!p.requests.some((r) => /^GET \S+\/v1\/jobs\/[^/\s]+ /.test(r)), "no polling needed");
      } finally { await p.close(); }
    });

    it(`fill gap at ${key}`, async () => {
      const seq = env.seqs[key];
      const p = await env.open(seq, { playhead: 45 });
      try {
        await p.page.click('[data-op="fill_gap"]');
        await classical(p.page);
        const target = await p.page.textContent("#target");
        assert.match(target, /Gap on V1/);
        const out = await h.runAndWait(p.page);
        assert.equal(out.kind, "ok", out.text);
        assertProgressShown(out);
        const v1 = clipsOn(p.runner, 0);
        const filled = v1.find((c) => c.start === TICKS(36, seq));
        assert.ok(filled, JSON.stringify(v1));
        assert.equal(filled.end, TICKS(60, seq));
        assert.equal(filled.mediaPath, out.record.result.placements[0].media);
        assert.equal(v1.length, 3);
      } finally { await p.close(); }
    });
  }

  it("extend head at 29.97: placed before the clip, ending exactly where it starts", async () => {
    const seq = env.seqs.e2e_2997;
    const p = await env.open(seq, { select: [0, 1] });
    try {
      await p.page.click('[data-op="extend"]');
      await p.page.selectOption("#side", "head");
      await p.page.fill("#frames", "10");
      await classical(p.page);
      assert.match(await p.page.textContent("#target"), /^Head of ‘B’ on V1 · \d\d:\d\d:\d\d;\d\d–/);
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "ok", out.text);
      const v1 = clipsOn(p.runner, 0);
      const placed = v1.filter((c) => BigInt(c.start) >= BigInt(TICKS(50, seq)) && BigInt(c.end) <= BigInt(TICKS(60, seq)));
      assert.ok(placed.length >= 1, JSON.stringify(v1));
      assert.equal(placed[0].start, TICKS(50, seq));
      assert.equal(placed[placed.length - 1].end, TICKS(60, seq));
      assert.ok(v1.find((c) => c.start === TICKS(60, seq) && c.end === TICKS(84, seq)), "B itself untouched");
    } finally { await p.close(); }
  });

  it("outpaint: the result goes on the free track above the clip", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { playhead: 70 });
    try {
      await p.page.click('[data-op="outpaint"]');
      await p.page.selectOption("#canvas-preset", "custom");
      await p.page.fill("#canvas-w", "640");
      await p.page.fill("#canvas-h", "360");
      await classical(p.page);
      const out = await h.runAndWait(p.page, 180000);
      assert.equal(out.kind, "ok", out.text);
      assertProgressShown(out);
      assert.deepEqual(out.request.metadata.shotforge.canvas, [640, 360]);
      // The server's auto placement: the clip's own track is taken, so the lowest free one above (V2).
      assert.equal(out.record.result.placements[0].track, 1);
      await p.page.setViewportSize({ width: 340, height: 560 });
      await p.page.screenshot({ path: path.join(env.dir, "panel-outpaint.png") });
      const v2 = clipsOn(p.runner, 1);
      assert.equal(v2.length, 1);
      assert.equal(v2[0].start, TICKS(60, seq));
      assert.equal(v2[0].end, TICKS(84, seq));
      assert.equal(clipsOn(p.runner, 0).length, 2, "V1 untouched");
    } finally { await p.close(); }
  });

  it("generate B-roll over In/Out with the playhead frame as reference", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { inFrame: 10, outFrame: 34, playhead: 20 });
    try {
      await p.page.click('[data-op="generate"]');
      await p.page.fill("#prompt", "a quiet street at dawn, \"wide\" shot");
      await classical(p.page);
      await p.page.check("#use-reference");
      const out = await h.runAndWait(p.page, 180000);
      assert.equal(out.kind, "ok", out.text);
      const sf = out.request.metadata.shotforge;
      assert.deepEqual(sf.range, [10, 34]);
      assert.equal(sf.reference_frame, 20);
      if (out.record.result.placeholder) assert.match(out.text, /placeholder/);
      assert.equal(sf.prompt, "a quiet street at dawn, \"wide\" shot");
      // V1 holds A over [10,34), so "above" lands on V2.
      const v2 = clipsOn(p.runner, 1);
      assert.equal(v2.length, 1);
      assert.equal(v2[0].start, TICKS(10, seq));
      assert.equal(v2[0].end, TICKS(34, seq));
    } finally { await p.close(); }
  });

  /** e2e_25 with B moved up against A: [40, 84), so a 12-frame tail extension of A runs into it. */
  function abutting() {
    const seq = JSON.parse(JSON.stringify(env.seqs.e2e_25));
    const tb = BigInt(seq.timebase), b = seq.videoTracks[0].clips[1];
    b.start = String(40n * tb);
    b.inPoint = String(10n * tb);
    b.outPoint = String(54n * tb);
    return seq;
  }

  async function extendA(p, placement) {
    await p.page.click('[data-op="extend"]');
    await p.page.selectOption("#side", "tail");
    await p.page.fill("#frames", "12");
    await classical(p.page);
    if (placement) await p.page.selectOption("#placement", placement);
  }

  it("extend a tail into the adjacent clip: on the empty V2, V1 untouched, a take; after a reload Remove last restores it exactly", async () => {
    const seq = abutting();
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = p.runner.dom.fullSnapshot();
      const v1 = JSON.stringify(clipsOn(p.runner, 0));
      await extendA(p);
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "ok", out.text + "\n" + p.consoleLines.join("\n"));
      assert.equal(out.request.metadata.shotforge.placement, "auto");
      assert.equal(JSON.stringify(clipsOn(p.runner, 0)), v1, "V1 untouched");
      assert.deepEqual(p.runner.dom.destroyed, []);
      const v2 = clipsOn(p.runner, 1);
      assert.equal(v2[0].start, TICKS(36, seq));
      assert.equal(v2[v2.length - 1].end, TICKS(48, seq));
      assert.ok(v2.every((c) => c.name === "ShotForge extend take 1"), JSON.stringify(v2));
      const [marker] = p.runner.dom.sequence.markers;
      assert.deepEqual([marker.name, marker.start, marker.end], ["ShotForge extend take 1", TICKS(36, seq), TICKS(48, seq)]);
      assert.ok(marker.comments.includes("job: " + out.record.id) && /engine: classical/.test(marker.comments) && /seed: 0/.test(marker.comments));
      assert.ok(p.runner.dom.projectItems.filter((i) => i.name === "ShotForge extend take 1").every((i) => i.label === 2));
      // The take history survives a panel reload.
      await p.page.reload();
      await p.page.waitForSelector("#takes:not([hidden])", { timeout: 30000 });
      assert.match(await p.page.textContent("#take-last"), /‘ShotForge extend take 1’ · classical · seed 0/);
      const removed = await h.assertRemoveLastRestores(p, before);
      assert.match(removed.text, /Removed ‘ShotForge extend take 1’ and its marker/);
    } finally { await p.close(); }
  });

  it("extend into the adjacent clip with no empty track: nothing placed, render kept; after adding a track Place again puts it there", async () => {
    const seq = abutting();
    seq.videoTracks[1].clips.push({ name: "Logo", start: TICKS(30, seq), end: TICKS(60, seq), inPoint: "0", outPoint: TICKS(30, seq),
      mediaPath: "", speed: 1, reversed: false, disabled: false, selected: false });
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = p.runner.dom.fullSnapshot();
      await extendA(p);
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.match(out.text, /add an empty video track \(Sequence > Add Tracks\) and press Place again/);
      assert.equal(p.runner.dom.fullSnapshot(), before);
      assert.equal(p.runner.dom.mutations.length, 0);
      assert.ok((await p.page.textContent("#pending-text")).includes(out.record.result.media[0]));
      p.runner.dom.sequence.tracks.push({ name: "Video 3", clips: [], transitions: [] }); // the editor adds a track
      const again = await h.runAndWait(p.page, 60000, "#place-again");
      assert.equal(again.kind, "ok", again.text);
      const v3 = clipsOn(p.runner, 2);
      assert.deepEqual([v3[0].start, v3[v3.length - 1].end], [TICKS(36, seq), TICKS(48, seq)]);
      assert.equal(await p.page.isVisible("#pending"), false);
    } finally { await p.close(); }
  });

  it("a read-back mismatch on the second clip: both removed again, the sequence exactly as before, the render kept", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = p.runner.dom.fullSnapshot();
      await extendA(p);
      p.runner.dom.landOff = { nth: 2, frames: 1 }; // the generated frames land one frame late
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.equal(out.record.result.placements.length, 2);
      assert.match(out.text, /landed on V1 at ticks/);
      assert.match(out.text, /Nothing was placed: the sequence is exactly as before/);
      assert.ok(out.text.includes(out.record.result.media[0]), out.text);
      assert.equal(p.runner.dom.fullSnapshot(), before);
      // Both parts with their sound (chaplin has sound): the handles' own, the generated frames' room tone.
      assert.deepEqual(out.record.result.placements.map((x) => x.audio_track), [0, 0]);
      assert.equal(p.runner.dom.mutations.filter((m) => m.removed).length, 4);
      assert.equal(await p.page.isVisible("#takes"), false, "no take recorded");
    } finally { await p.close(); }
  });

  it("overwrite only after the editor confirmed the list of what it destroys", async () => {
    const seq = abutting();
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = p.runner.dom.fullSnapshot();
      await extendA(p, "overwrite");
      const out = await h.runAndWait(p.page);
      assert.match(out.text, /Overwrite needs your confirmation/);
      assert.equal(await p.page.isVisible("#confirm"), true);
      assert.match(await p.page.textContent("#confirm-list"), /clip ‘B’ on V1/);
      assert.equal(p.runner.dom.fullSnapshot(), before, "nothing placed while the question is open");
      await p.page.click("#confirm-cancel");
      assert.equal(p.runner.dom.fullSnapshot(), before);
      assert.equal(await p.page.evaluate(() => window.localStorage.getItem("shotforge.premiere.job." + window.ShotForgePanel.state.seq.id)), "null",
        "a declined overwrite is not offered again after a reload");
      assert.equal(await p.page.isVisible("#place-again"), true);
      await h.runAndWait(p.page, 60000, "#place-again");
      assert.equal(await p.page.isVisible("#confirm"), true, "asked again");
      const placed = await h.runAndWait(p.page, 60000, "#confirm-overwrite");
      assert.equal(placed.kind, "ok", placed.text);
      // Only B went: its head under the handle frames, then what was left of it under the generated frames.
      assert.ok(p.runner.dom.destroyed.length >= 1 && p.runner.dom.destroyed.every((d) => d.kind === "clip" && d.name === "B"),
        JSON.stringify(p.runner.dom.destroyed));
      assert.equal(p.runner.dom.destroyed[0].start, TICKS(40, seq));
      const v1 = clipsOn(p.runner, 0);
      assert.ok(v1.some((c) => c.name === "B" && c.start === TICKS(48, seq)), "B's remainder after the overwrite");
    } finally { await p.close(); }
  });

  it("overwrite after the edit changed under an open dialog: nothing destroyed, the dialog asks again with the new list", async () => {
    const seq = abutting();
    const p = await env.open(seq, { select: [0, 0] });
    try {
      await extendA(p, "overwrite");
      const out = await h.runAndWait(p.page);
      assert.match(out.text, /Overwrite needs your confirmation/);
      assert.doesNotMatch(await p.page.textContent("#confirm-list"), /transition/);
      // While the question is open the editor puts a transition on the A/B cut.
      p.runner.dom.sequence.tracks[0].transitions.push({ name: "Cross Dissolve", nodeId: "t-late", start: TICKS(38, seq), end: TICKS(42, seq) });
      const before = p.runner.dom.fullSnapshot();
      const stale = await h.runAndWait(p.page, 60000, "#confirm-overwrite");
      assert.match(stale.text, /Overwrite needs your confirmation/);
      assert.equal(await p.page.isVisible("#confirm"), true, "asked again");
      assert.match(await p.page.textContent("#confirm-text"), /changed since you were asked/);
      assert.match(await p.page.textContent("#confirm-list"), /transition ‘Cross Dissolve’ on V1/);
      assert.equal(p.runner.dom.fullSnapshot(), before, "nothing placed on the stale confirmation");
      assert.deepEqual(p.runner.dom.destroyed, []);
      const placed = await h.runAndWait(p.page, 60000, "#confirm-overwrite");
      assert.equal(placed.kind, "ok", placed.text);
      assert.deepEqual([...new Set(p.runner.dom.destroyed.map((d) => d.kind + " " + d.name))].sort(), ["clip B", "transition Cross Dissolve"]);
    } finally { await p.close(); }
  });

  it("new take: the same slot re-rendered with the next seed and swapped in as take 2", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { playhead: 45 });
    try {
      await p.page.click('[data-op="fill_gap"]');
      await classical(p.page);
      const first = await h.runAndWait(p.page);
      assert.equal(first.kind, "ok", first.text);
      const swapped = await h.runAndWait(p.page, 90000, "#new-take");
      assert.equal(swapped.kind, "ok", swapped.text);
      assert.match(swapped.text, /Swapped in ‘ShotForge fill gap take 2’/);
      const v1 = clipsOn(p.runner, 0);
      assert.equal(v1.length, 3);
      const filled = v1.find((c) => c.start === TICKS(36, seq));
      assert.deepEqual([filled.name, filled.end], ["ShotForge fill gap take 2", TICKS(60, seq)]);
      assert.equal(p.runner.dom.sequence.markers.length, 1);
      assert.match(p.runner.dom.sequence.markers[0].comments, /seed: 1/);
    } finally { await p.close(); }
  });

  it("conform placeholders: a generate placeholder re-rendered by the server; beside finds no free track and says where, swap in lands in its slot", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { inFrame: 10, outFrame: 34, playhead: 20 });
    try {
      await p.page.click('[data-op="generate"]');
      await p.page.fill("#prompt", "rain on a window");
      await classical(p.page);
      const first = await h.runAndWait(p.page, 180000);
      assert.equal(first.kind, "ok", first.text);
      assert.equal(first.record.result.placeholder, true);
      const placeholder = clipsOn(p.runner, 1)[0];
      assert.equal(p.runner.dom.snapshot().length, 2, "e2e_25 has V1 and V2 only");
      await p.page.selectOption("#conform-engine", "classical");
      await p.page.check("#conform-new-seed");
      // Place beside: no track above V2 is free, and Premiere's scripting cannot add one.
      const beside = await h.runAndWait(p.page, 180000, "#conform-run");
      assert.equal(beside.kind, "error", beside.text);
      // frame 10 of a sequence starting at 01:00:00:00
      assert.match(beside.text, /^Conformed 0 of 1 ShotForge take .*Not conformed: ‘ShotForge generate take 1’ on V2 at 01:00:00:10: no video track above V2 is empty/s);
      assert.deepEqual(clipsOn(p.runner, 1), [placeholder]);
      // Swap in: the same slot, take 2, new media; the old take and its marker gone.
      await p.page.selectOption("#conform-mode", "swap");
      const swapped = await h.runAndWait(p.page, 180000, "#conform-run");
      assert.equal(swapped.kind, "ok", swapped.text);
      assert.match(swapped.text, /^Conformed 1 of 1 ShotForge take \(each swapped into its slot\)\.$/);
      const v2 = clipsOn(p.runner, 1).filter((c) => c.start === placeholder.start);
      assert.equal(v2.length, 1);
      assert.deepEqual([v2[0].name, v2[0].start, v2[0].end], ["ShotForge generate take 2", placeholder.start, placeholder.end]);
      assert.notEqual(v2[0].mediaPath, placeholder.mediaPath);
      const marker = p.runner.dom.sequence.markers.find((m) => m.start === placeholder.start);
      assert.ok(marker && /seed: \d+/.test(marker.comments));
    } finally { await p.close(); }
  });

  it("the panel reloaded while the job renders: after the reload it follows the job and places the result", async () => {
    const seq = abutting();
    const p = await env.open(seq, { select: [0, 0] });
    try {
      // This page never hears how the job ends (its progress requests hang), as if it went away mid-render.
      const progress = /\/v1\/jobs\/[^/?]+(\/events)?(\?.*)?$/;
      await p.page.route(progress, () => {});
      await extendA(p);
      await p.page.click("#run");
      await p.page.waitForFunction(() => /shotforge\.premiere\.job\./.test(Object.keys(window.localStorage).join(" ")) &&
        Object.keys(window.localStorage).some((k) => /^shotforge\.premiere\.job\./.test(k) && window.localStorage.getItem(k) !== "null"),
      null, { timeout: 30000 });
      assert.equal(p.runner.dom.mutations.length, 0);
      await p.page.unroute(progress);
      await p.page.reload();
      await p.page.waitForFunction(() => {
        const s = document.getElementById("status");
        return /Placed|not placed|failed/.test(s.textContent) && !window.ShotForgePanel.state.busy;
      }, null, { timeout: 120000 });
      const status = await p.page.textContent("#status");
      assert.match(status, /Placed ‘ShotForge extend take 1’/);
      const v2 = clipsOn(p.runner, 1);
      assert.deepEqual([v2[0].start, v2[v2.length - 1].end], [TICKS(36, seq), TICKS(48, seq)]);
      assert.equal(await p.page.evaluate(() => window.localStorage.getItem("shotforge.premiere.job." + window.ShotForgePanel.state.seq.id)), "null");
    } finally { await p.close(); }
  });

  it("cancel: the job stops and the sequence is unchanged", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { select: [0, 1] });
    try {
      const before = JSON.stringify(p.runner.dom.snapshot());
      await p.page.click('[data-op="outpaint"]');
      await p.page.selectOption("#canvas-preset", "3840x2160");
      await classical(p.page);
      await p.page.click("#run");
      await p.page.waitForSelector("#cancel:not([hidden])", { timeout: 30000 });
      await p.page.waitForFunction(() => {
        const r = window.ShotForgePanel.state.lastRecord;
        return r && r.state === "running";
      }, null, { timeout: 30000 });
      await p.page.click("#cancel");
      await p.page.waitForFunction(() => !window.ShotForgePanel.state.busy, null, { timeout: 60000 });
      const status = await p.page.textContent("#status");
      const rec = await p.page.evaluate(() => window.ShotForgePanel.state.lastRecord);
      assert.equal(rec.state, "canceled", status);
      assert.match(status, /Canceled\. Nothing in the sequence was changed/);
      assert.equal(JSON.stringify(p.runner.dom.snapshot()), before);
      assert.equal(p.runner.dom.mutations.length, 0);
    } finally { await p.close(); }
  });

  it("a request the server refuses: its error is shown as is, nothing changes", async () => {
    const seq = JSON.parse(JSON.stringify(env.seqs.e2e_25));
    seq.videoTracks[0].clips[0].mediaPath = path.join(env.media.media, "gone.mp4");
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = JSON.stringify(p.runner.dom.snapshot());
      await classical(p.page);
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.match(out.text, /gone\.mp4/);
      assert.match(out.text, /Nothing in the sequence was changed/);
      assert.equal(JSON.stringify(p.runner.dom.snapshot()), before);
      assert.equal(p.runner.dom.mutations.length, 0);
    } finally { await p.close(); }
  });

  it("a source range outside the media: the server's reason, nothing changes", async () => {
    const seq = JSON.parse(JSON.stringify(env.seqs.e2e_25));
    const tb = BigInt(seq.timebase);
    seq.videoTracks[0].clips[0].inPoint = String(5000n * tb);
    seq.videoTracks[0].clips[0].outPoint = String(5036n * tb);
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = JSON.stringify(p.runner.dom.snapshot());
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.match(out.text, /Nothing in the sequence was changed/);
      assert.match(out.text, /frame|media/i);
      assert.equal(JSON.stringify(p.runner.dom.snapshot()), before);
      assert.equal(p.runner.dom.mutations.length, 0);
    } finally { await p.close(); }
  });

  it("a job that fails in the queue (its media vanished): failed state shown, nothing changes", async () => {
    const core = require("../../js/sf_core");
    const { withState } = require("../helpers");
    const seq = JSON.parse(JSON.stringify(env.seqs.e2e_25));
    const doomed = path.join(env.media.media, "doomed.mp4");
    fs.copyFileSync(seq.videoTracks[0].clips[0].mediaPath, doomed);
    seq.videoTracks[0].clips[0].mediaPath = doomed;
    // Occupy the single worker with a long job sent straight to the server.
    const blocker = core.buildRequest(core.readSequence({ sequence: withState(env.seqs.e2e_25, { select: [0, 1] }) }),
      { operation: "outpaint", track: "auto", canvas: [3840, 2160], engine: "classical" }).otio;
    const res = await fetch(env.server.url + "/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(blocker) });
    assert.equal(res.status, 202, await res.clone().text());
    const blockerId = (await res.json()).id;
    const p = await env.open(seq, { select: [0, 0] });
    try {
      const before = JSON.stringify(p.runner.dom.snapshot());
      await classical(p.page);
      await p.page.click("#run");
      await p.page.waitForFunction(() => {
        const r = window.ShotForgePanel.state.lastRecord;
        return r && r.state === "queued";
      }, null, { timeout: 30000 });
      assert.equal(await p.page.textContent("#stage"), "queued");
      fs.unlinkSync(doomed);
      await fetch(env.server.url + "/v1/jobs/" + blockerId, { method: "DELETE" });
      await p.page.waitForFunction(() => !window.ShotForgePanel.state.busy, null, { timeout: 60000 });
      const out = await p.page.evaluate(() => ({ text: document.getElementById("status").textContent,
        cls: document.getElementById("status").className, rec: window.ShotForgePanel.state.lastRecord }));
      assert.equal(out.rec.state, "failed", out.text);
      assert.match(out.cls, /error/);
      assert.ok(out.text.includes(out.rec.error.message), "the server's message is shown as is");
      assert.match(out.text, /The job failed \(/);
      assert.match(out.text, /Nothing in the sequence was changed/);
      assert.equal(JSON.stringify(p.runner.dom.snapshot()), before);
      assert.equal(p.runner.dom.mutations.length, 0);
    } finally { await p.close(); }
  });

  it("no free track above: the render is kept, the sequence is not touched, the editor is told what to do", async () => {
    const seq = JSON.parse(JSON.stringify(env.seqs.e2e_25));
    // Something on V2 over B's range: no track above B is free.
    seq.videoTracks[1].clips.push(Object.assign({}, seq.videoTracks[0].clips[1], { name: "title" }));
    const p = await env.open(seq, { playhead: 70 });
    try {
      const before = JSON.stringify(p.runner.dom.snapshot());
      await p.page.click('[data-op="outpaint"]');
      await p.page.selectOption("#track", "0");
      await p.page.selectOption("#canvas-preset", "custom");
      await p.page.fill("#canvas-w", "640");
      await p.page.fill("#canvas-h", "360");
      const out = await h.runAndWait(p.page, 180000);
      assert.equal(out.kind, "error");
      assert.match(out.text, /was not placed/);
      assert.match(out.text, /add an empty video track \(Sequence > Add Tracks\) and press Place again/);
      assert.equal(JSON.stringify(p.runner.dom.snapshot()), before);
      // The render is kept and said where; Place again is offered.
      assert.equal(await p.page.isVisible("#place-again"), true);
      assert.ok((await p.page.textContent("#pending-text")).includes(out.record.result.media[0]));
    } finally { await p.close(); }
  });

  it("nothing under the playhead: refused in the panel, no job sent", async () => {
    const p = await env.open(env.seqs.e2e_25, { playhead: 200 });
    try {
      await p.page.click('[data-op="extend"]');
      assert.match(await p.page.textContent("#target"), /select a clip/);
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.equal(out.record, null);
      assert.match(out.text, /select a clip/);
    } finally { await p.close(); }
  });

  it("Premiere refusing to keep the panel loaded when hidden: the panel says to keep it open while a job runs", async () => {
    const refuse = (script, runner) => (/keepLoaded/.test(script) ? '{"ok":true,"persistent":false}' : runner.evalScript(script));
    const p = await h.openPanel(env.browser, env.server.url, env.seqs.e2e_25, { select: [0, 0] }, { evalOverride: refuse });
    try {
      await p.page.waitForFunction(() => window.ShotForgePanel.state.log.length > 0);
      const log = await p.page.evaluate(() => window.ShotForgePanel.state.log);
      assert.ok(log.some((l) => l.kind === "error" && /may unload this panel when it is hidden \(Premiere refused\); keep it open while a job runs/.test(l.text)),
        JSON.stringify(log));
    } finally { await p.close(); }
  });

  it("server not running: says how to start it", async () => {
    const p = await h.openPanel(env.browser, "http://127.0.0.1:9", env.seqs.e2e_25, { select: [0, 0] });
    try {
      assert.equal(await p.page.getAttribute("#server-state", "class"), "dot bad");
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.match(out.text, /cannot reach the ShotForge server at http:\/\/127\.0\.0\.1:9/);
      assert.match(out.text, /shotforge serve/);
      assert.equal(p.runner.dom.mutations.length, 0);
    } finally { await p.close(); }
  });

  it("a server with a token: refused without it, works with it", async () => {
    const sdir = h.tmpdir();
    const guarded = await h.startServer(sdir, ["--token", "s3cret-token"]);
    const p = await h.openPanel(env.browser, guarded.url, env.seqs.e2e_25, { playhead: 45 });
    try {
      await p.page.click('[data-op="fill_gap"]');
      await classical(p.page);
      let out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.match(out.text, /Bearer/);
      assert.equal(p.runner.dom.mutations.length, 0);
      await p.page.evaluate(() => { document.getElementById("server-token").value = "s3cret-token"; });
      out = await h.runAndWait(p.page);
      assert.equal(out.kind, "ok", out.text);
      assert.ok(p.requests.some((r) => /POST \S+\/v1\/jobs origin=null$/.test(r)), "the page sends Origin: null");
    } finally { await p.close(); await guarded.stop(); fs.rmSync(sdir, { recursive: true, force: true }); }
  });

  it("host script not loaded: the panel says so instead of failing silently", async () => {
    const p = await env.open(env.seqs.e2e_25, {}, { evalOverride: () => "EvalScript error." });
    try {
      assert.match(await p.page.textContent("#target"), /ShotForge host script/);
      const out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
    } finally { await p.close(); }
  });
});
