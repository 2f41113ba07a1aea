/*
 * The panel end to end for inpaint and for room tone on the audio tracks: headless Chromium, the
 * real page over file://, the host script on the mock DOM, a real ShotForge server rendering
 * real media copies (e2e_25: A is chaplin.mp4, which has sound; B is the bikes clip, 640x272).
 */
"use strict";
const { describe, it } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");

const h = require("./harness");
const { classical, clipsOn, assertProgressShown, ticks: TICKS } = h;

const SKIP = h.skipReason();

describe("ShotForge panel: inpaint and room tone, in Chromium against a real server", { skip: SKIP || false, timeout: 600000 }, () => {
  const env = h.panelSuite();

  /** The mock's audio items on audio track `a`: [name, first frame, end frame, source in ticks]. */
  function audioOn(runner, a, seq) {
    const tb = BigInt(seq.timebase);
    return runner.dom.sequence.audio[a].clips.slice().sort((x, y) => (BigInt(x.start) < BigInt(y.start) ? -1 : 1))
      .map((c) => [c.name, Number(BigInt(c.start) / tb), Number(BigInt(c.end) / tb), c.inPoint]);
  }

  /** The panel on `seq` with the playhead in the gap between A and B, Fill gap chosen on the classical engine. */
  async function fillGapPanel(seq) {
    const p = await env.open(seq, { playhead: 45 });
    try {
      await p.page.click('[data-op="fill_gap"]');
      await classical(p.page);
    } catch (e) { await p.close(); throw e; }
    return p;
  }

  async function inpaintTab(page, { region, end, mask, prompt } = {}) {
    await page.click('[data-op="inpaint"]');
    await classical(page);
    if (mask != null) {
      await page.selectOption("#inpaint-source", "mask");
      await page.fill("#mask-path", mask);
    } else {
      await page.selectOption("#inpaint-source", "region");
      for (const [k, v] of Object.entries({ x: region[0], y: region[1], w: region[2], h: region[3] })) await page.fill("#region-" + k, String(v));
      if (end) {
        await page.check("#region-moving");
        for (const [k, v] of Object.entries({ x: end[0], y: end[1], w: end[2], h: end[3] })) await page.fill("#region-end-" + k, String(v));
      }
    }
    if (prompt != null) await page.fill("#prompt", prompt);
  }

  it("inpaint a region of the clip under the playhead: its placed range on the free V2 above, a take; Remove last restores exactly", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { playhead: 70 });
    try {
      const before = p.runner.dom.fullSnapshot();
      await inpaintTab(p.page, { region: [200, 40, 96, 64] });
      assert.equal(await p.page.isVisible("#inpaint-mask"), false, "the matte field only for a matte");
      assert.equal(await p.page.isVisible("#inpaint-region-end"), false, "the end region only for a moving one");
      assert.match(await p.page.textContent("#target"), /^‘B’ on V1 · /);
      const out = await h.runAndWait(p.page, 180000);
      assert.equal(out.kind, "ok", out.text + "\n" + p.consoleLines.join("\n"));
      assertProgressShown(out);
      const sf = out.request.metadata.shotforge;
      assert.deepEqual([sf.operation, sf.track, sf.frame, sf.region, sf.prompt], ["inpaint", 0, 70, [200, 40, 96, 64], ""]);
      assert.ok(!("region_end" in sf) && !("mask" in sf));
      const v2 = clipsOn(p.runner, 1);
      assert.deepEqual(v2.map((c) => [c.name, c.start, c.end]), [["ShotForge inpaint take 1", TICKS(60, seq), TICKS(84, seq)]]);
      assert.equal(v2[0].mediaPath, out.record.result.placements[0].media);
      assert.equal(clipsOn(p.runner, 0).length, 2, "V1 untouched");
      assert.deepEqual(p.runner.dom.destroyed, []);
      assert.ok(p.runner.dom.projectItems.filter((i) => i.name === "ShotForge inpaint take 1").every((i) => i.label === 9));
      assert.match(out.text, /Placed ‘ShotForge inpaint take 1’ \(1 clip\)/);
      await h.assertRemoveLastRestores(p, before);
    } finally { await p.close(); }
  });

  it("inpaint a moving region with a prompt, then New take: same region and slot, the next seed, swapped in as take 2", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { select: [0, 1] });
    try {
      await inpaintTab(p.page, { region: [20, 30, 80, 60], end: [500, 30, 80, 60], prompt: "an empty road" });
      assert.equal(await p.page.isVisible("#inpaint-region-end"), true);
      const first = await h.runAndWait(p.page, 180000);
      assert.equal(first.kind, "ok", first.text);
      const sf = first.request.metadata.shotforge;
      assert.deepEqual([sf.region, sf.region_end, sf.prompt, sf.frame], [[20, 30, 80, 60], [500, 30, 80, 60], "an empty road", 60]);
      const swapped = await h.runAndWait(p.page, 180000, "#new-take");
      assert.equal(swapped.kind, "ok", swapped.text);
      assert.match(swapped.text, /Swapped in ‘ShotForge inpaint take 2’/);
      const v2 = clipsOn(p.runner, 1);
      assert.deepEqual(v2.map((c) => [c.name, c.start, c.end]), [["ShotForge inpaint take 2", TICKS(60, seq), TICKS(84, seq)]]);
      assert.equal(p.runner.dom.sequence.markers.length, 1);
      assert.match(p.runner.dom.sequence.markers[0].comments, /seed: 1/);
    } finally { await p.close(); }
  });

  it("inpaint with a matte file: its path is sent as the mask and the result placed; a matte that does not exist is refused before sending", async () => {
    const seq = env.seqs.e2e_25;
    const p = await env.open(seq, { playhead: 70 });
    try {
      const gone = path.join(env.media.media, "no such matte.png");
      await inpaintTab(p.page, { mask: gone });
      assert.equal(await p.page.isVisible("#inpaint-region"), false);
      const refused = await h.runAndWait(p.page);
      assert.equal(refused.kind, "error");
      assert.ok(refused.text.includes("the matte file " + gone + " for clip ‘B’ on V1 does not exist"), refused.text);
      assert.equal(refused.record, null, "no job was sent");
      assert.equal(p.runner.dom.mutations.length, 0);
      await p.page.fill("#mask-path", env.media.matte);
      const out = await h.runAndWait(p.page, 180000);
      assert.equal(out.kind, "ok", out.text);
      assert.equal(out.request.metadata.shotforge.mask, env.media.matte);
      assert.deepEqual(clipsOn(p.runner, 1).map((c) => [c.start, c.end]), [[TICKS(60, seq), TICKS(84, seq)]]);
    } finally { await p.close(); }
  });

  it("inpaint with a region left empty or of zero size: refused in the panel naming the clip, no job sent", async () => {
    const p = await env.open(env.seqs.e2e_25, { playhead: 70 });
    try {
      await inpaintTab(p.page, { region: [10, 10, 0, 20] });
      let out = await h.runAndWait(p.page);
      assert.equal(out.kind, "error");
      assert.match(out.text, /the region of clip ‘B’ on V1 is 0 × 20 pixels/);
      await p.page.fill("#region-w", "");
      out = await h.runAndWait(p.page);
      assert.match(out.text, /four whole numbers .* got 10, 10, \(empty\), 20/);
      assert.equal(out.record, null);
      assert.equal(p.runner.dom.mutations.length, 0);
    } finally { await p.close(); }
  });

  it("inpaint with a region outside the clip's picture: the server's reason (it reads the picture's size) is shown, nothing changes", async () => {
    const p = await env.open(env.seqs.e2e_25, { playhead: 70 });
    try {
      const before = p.runner.dom.fullSnapshot();
      await inpaintTab(p.page, { region: [600, 200, 100, 100] }); // the bikes clip is 640x272
      const out = await h.runAndWait(p.page, 120000);
      assert.equal(out.kind, "error");
      assert.match(out.text, /reaches outside the picture of clip 'B'.* which is 640x272/);
      assert.match(out.text, /Nothing in the sequence was changed/);
      assert.equal(p.runner.dom.fullSnapshot(), before);
    } finally { await p.close(); }
  });

  it("fill a gap with room tone: the picture in the gap, its sound on A1 under the same frames, read back; Remove last takes both off exactly", async () => {
    const seq = env.seqs.e2e_25;
    const p = await fillGapPanel(seq);
    try {
      const before = p.runner.dom.fullSnapshot();
      const out = await h.runAndWait(p.page, 120000);
      assert.equal(out.kind, "ok", out.text);
      const [placement] = out.record.result.placements;
      assert.equal(placement.audio_track, 0, "the server put the tone on A1, where A's own sound is");
      assert.equal(out.request.tracks.children.filter((t) => t.kind === "Audio").length, 1);
      assert.deepEqual(audioOn(p.runner, 0, seq), [["A", 0, 36, TICKS(200, seq)], ["ShotForge fill gap take 1", 36, 60, "0"],
        ["B", 60, 84, TICKS(30, seq)]]);
      const tone = p.runner.dom.sequence.audio[0].clips.find((c) => c.name === "ShotForge fill gap take 1");
      assert.equal(tone.item.mediaPath, placement.media);
      assert.match(out.text, /A1 01:00:01:11 · its room tone/);
      assert.deepEqual(p.runner.dom.destroyed, []);
      await h.assertRemoveLastRestores(p, before);
    } finally { await p.close(); }
  });

  it("Remove last after the editor trimmed the room tone: the tone and the picture linked to it stay, both named in the message", async () => {
    const seq = env.seqs.e2e_25;
    const p = await fillGapPanel(seq);
    try {
      const out = await h.runAndWait(p.page, 120000);
      assert.equal(out.kind, "ok", out.text);
      p.runner.dom.sequence.audio[0].clips.find((c) => c.name === "ShotForge fill gap take 1").end = TICKS(55, seq);
      const removed = await h.runAndWait(p.page, 60000, "#remove-last");
      assert.equal(removed.kind, "error", removed.text);
      assert.match(removed.text, /2 of its clips changed since it was placed \(or are linked to one that did\) and were left as they are: V1 01:00:01:11, A1 01:00:01:11/);
      assert.deepEqual(clipsOn(p.runner, 0).map((c) => c.name), ["A", "ShotForge fill gap take 1", "B"]);
    } finally { await p.close(); }
  });

  it("room tone with no free audio track: nothing placed, the render kept; after adding an audio track Place again puts picture and sound", async () => {
    const seq = JSON.parse(JSON.stringify(env.seqs.e2e_25));
    seq.audioTracks[0].clips.push({ name: "Music", start: TICKS(30, seq), end: TICKS(66, seq), inPoint: "0", outPoint: TICKS(36, seq),
      mediaPath: path.join(env.media.media, "music.wav") });
    seq.audioTracks[0].clips = seq.audioTracks[0].clips.filter((c) => c.name === "Music");
    const p = await fillGapPanel(seq);
    try {
      const before = p.runner.dom.fullSnapshot();
      const out = await h.runAndWait(p.page, 120000);
      assert.equal(out.kind, "error", out.text);
      assert.equal(out.record.result.placements[0].audio_track, 1, "the server asks for a new audio track");
      assert.match(out.text, /no audio track is empty over frames 36-59.*add an empty audio track \(Sequence > Add Tracks\) and press Place again/s);
      assert.equal(p.runner.dom.fullSnapshot(), before);
      assert.equal(p.runner.dom.mutations.length, 0);
      p.runner.dom.sequence.audio.push({ name: "Audio 2", clips: [], transitions: [] }); // the editor adds an audio track
      const again = await h.runAndWait(p.page, 60000, "#place-again");
      assert.equal(again.kind, "ok", again.text);
      assert.deepEqual(audioOn(p.runner, 1, seq).map((c) => c.slice(0, 3)), [["ShotForge fill gap take 1", 36, 60]]);
      assert.deepEqual(clipsOn(p.runner, 0).map((c) => c.name), ["A", "ShotForge fill gap take 1", "B"]);
      assert.deepEqual(p.runner.dom.destroyed, []);
    } finally { await p.close(); }
  });

  it("a read-back mismatch on the room tone: picture and sound both removed, the sequence exactly as before, the render kept", async () => {
    const seq = env.seqs.e2e_25;
    const p = await fillGapPanel(seq);
    try {
      const before = p.runner.dom.fullSnapshot();
      p.runner.dom.soundOff = { nth: 1, frames: -1 }; // the sound lands a frame early, over the tail of A's own
      const out = await h.runAndWait(p.page, 120000);
      assert.equal(out.kind, "error");
      assert.match(out.text, /its sound landed on A1 at ticks/);
      assert.ok(out.text.includes(out.record.result.media[0]), out.text);
      // Landing early cut A's sound: the host says the sequence could not be kept exactly, honestly.
      assert.match(out.text, /could not be restored exactly|check it \(Edit > Undo\)/);
      assert.deepEqual(p.runner.dom.destroyed.map((d) => [d.track, d.name]), [["A0", "A"]]);
      const v1 = JSON.parse(p.runner.dom.fullSnapshot()).video;
      assert.deepEqual(v1, JSON.parse(before).video, "the picture came off again");
      assert.equal(await p.page.isVisible("#place-again"), true);
    } finally { await p.close(); }
  });

  it("new take of a gap fill with room tone: take 2's picture and sound in the old take's slots, the old ones gone", async () => {
    const seq = env.seqs.e2e_25;
    const p = await fillGapPanel(seq);
    try {
      const first = await h.runAndWait(p.page, 120000);
      assert.equal(first.kind, "ok", first.text);
      const swapped = await h.runAndWait(p.page, 120000, "#new-take");
      assert.equal(swapped.kind, "ok", swapped.text);
      assert.deepEqual(audioOn(p.runner, 0, seq).map((c) => c.slice(0, 3)), [["A", 0, 36], ["ShotForge fill gap take 2", 36, 60], ["B", 60, 84]]);
      assert.deepEqual(clipsOn(p.runner, 0).map((c) => c.name), ["A", "ShotForge fill gap take 2", "B"]);
    } finally { await p.close(); }
  });
});
