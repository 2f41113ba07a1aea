/*
 * ShotForge for Premiere Pro: the ExtendScript host (ES3).
 *
 * Deliberately thin: it reads facts from the active sequence and carries out placements, and
 * nothing else. Every editorial decision (which clip, which gap, frames, the OTIO request, the
 * placement plan) is made in the panel's JavaScript (js/sf_core.js), so a UXP port swaps only
 * this file. Only DOM members listed in the project's Premiere API reference are used (the
 * tests run this file against a mock that refuses any other member).
 *
 * Rules of this file:
 *  - ES3 only: var, function, no JSON global (Premiere has none reliably): sfJson() below
 *    writes the replies; arguments arrive as string/number literals built by the panel with
 *    JSON.stringify, never parsed here.
 *  - Times cross the bridge as integer tick STRINGS (254016000000 ticks per second); the host
 *    does no frame arithmetic of its own except the one conversion helper sfSecondsArg().
 *  - Every entry point returns a JSON string {"ok":true,...} or {"ok":false,"error":{code,message}}
 *    and never throws into evalScript (which would only say "EvalScript error.").
 */

var ShotForgeHost = (function () {
    var TICKS_PER_SECOND = 254016000000;

    // ------------------------------------------------------------ JSON out (ES3)

    function sfQuote(s) {
        var out = '"', i, c, code, hex;
        s = String(s);
        for (i = 0; i < s.length; i++) {
            c = s.charAt(i);
            code = s.charCodeAt(i);
            if (c === '"') { out += '\\"'; }
            else if (c === '\\') { out += '\\\\'; }
            else if (code < 32 || code === 0x2028 || code === 0x2029 || code > 126) {
                hex = code.toString(16);
                while (hex.length < 4) { hex = '0' + hex; }
                out += '\\u' + hex;
            } else { out += c; }
        }
        return out + '"';
    }

    function sfJson(v) {
        var parts, k, i;
        if (v === null || v === undefined) { return 'null'; }
        if (typeof v === 'string') { return sfQuote(v); }
        if (typeof v === 'number') { return isFinite(v) ? String(v) : 'null'; }
        if (typeof v === 'boolean') { return v ? 'true' : 'false'; }
        if (v instanceof Array) {
            parts = [];
            for (i = 0; i < v.length; i++) { parts.push(sfJson(v[i])); }
            return '[' + parts.join(',') + ']';
        }
        parts = [];
        for (k in v) {
            if (v.hasOwnProperty(k)) { parts.push(sfQuote(k) + ':' + sfJson(v[k])); }
        }
        return '{' + parts.join(',') + '}';
    }

    function ok(fields) {
        var r = { ok: true }, k;
        if (fields) { for (k in fields) { if (fields.hasOwnProperty(k)) { r[k] = fields[k]; } } }
        return sfJson(r);
    }

    function fail(code, message) {
        return sfJson({ ok: false, error: { code: code, message: message } });
    }

    function errorText(e) {
        return (e && e.message) ? String(e.message) : String(e);
    }

    // ------------------------------------------------------------ time: the one conversion helper

    /*
     * Sequence.overwriteClip takes its time in seconds (Premiere Scripting Guide). Seconds are a
     * float, and Premiere truncates to the frame (66.96 s can land a frame early), so the value
     * passed is the frame's start plus a quarter frame: truncation and rounding both land on the
     * intended frame. The panel reads the clip's start ticks back after every placement.
     */
    function sfSecondsArg(ticksStr, tpfStr) {
        return (Number(ticksStr) + Number(tpfStr) / 4) / TICKS_PER_SECOND;
    }

    function ticksOf(timeObj) {
        return String(timeObj.ticks);
    }

    /* Compare two non-negative integer tick strings exactly (ES3 has no BigInt; tick counts pass 2^53). */
    function cmpTicks(a, b) {
        a = String(a).replace(/^0+(?=\d)/, '');
        b = String(b).replace(/^0+(?=\d)/, '');
        if (a.length !== b.length) { return a.length < b.length ? -1 : 1; }
        return a < b ? -1 : (a > b ? 1 : 0);
    }

    /* True when [s1, e1) and [s2, e2) share a tick. */
    function overlaps(s1, e1, s2, e2) {
        return cmpTicks(s1, e2) < 0 && cmpTicks(s2, e1) < 0;
    }

    // ------------------------------------------------------------ reading

    function activeSequence() {
        var project = app.project;
        if (!project) { return null; }
        var seq = project.activeSequence;
        return seq ? seq : null;
    }

    function clipFacts(clip) {
        var item = clip.projectItem, path = '', nested = false;
        if (item) {
            nested = item.isSequence() ? true : false;
            if (!nested) { path = String(item.getMediaPath() || ''); }
        }
        return {
            name: String(clip.name),
            nodeId: String(clip.nodeId),
            start: ticksOf(clip.start),
            end: ticksOf(clip.end),
            inPoint: ticksOf(clip.inPoint),
            outPoint: ticksOf(clip.outPoint),
            mediaPath: path,
            nested: nested,
            hasItem: item ? true : false,
            speed: clip.getSpeed(),
            reversed: clip.isSpeedReversed() ? true : false,
            disabled: clip.disabled ? true : false,
            selected: clip.isSelected() ? true : false
        };
    }

    /* Start/end/name of each item of a TrackItemCollection (transitions, audio clips). */
    function spans(collection) {
        var out = [], j, it;
        for (j = 0; j < collection.numItems; j++) {
            it = collection[j];
            out.push({ name: String(it.name), nodeId: String(it.nodeId), start: ticksOf(it.start), end: ticksOf(it.end) });
        }
        return out;
    }

    function markerFacts(seq) {
        var list = [], markers = seq.markers, m = markers.getFirstMarker();
        while (m) {
            list.push({ guid: String(m.guid), name: String(m.name), comments: String(m.comments),
                start: ticksOf(m.start), end: ticksOf(m.end) });
            m = markers.getNextMarker(m);
        }
        return list;
    }

    /** Facts of the active sequence: rate, zero point, marks, playhead, every video clip and
     *  transition, the audio tracks' items and the sequence markers (a snapshot of the edit). */
    function facts() {
        try {
            var seq = activeSequence();
            if (!seq) { return fail('no_sequence', 'open a sequence in the Timeline first'); }
            var tracks = [], audio = [], vt = seq.videoTracks, at = seq.audioTracks, i, j, track, clips, list;
            for (i = 0; i < vt.numTracks; i++) {
                track = vt[i];
                clips = track.clips;
                list = [];
                for (j = 0; j < clips.numItems; j++) { list.push(clipFacts(clips[j])); }
                // Transitions sit apart from clips (Track.transitions); a build without them reports none.
                tracks.push({ name: String(track.name), clips: list, transitions: track.transitions ? spans(track.transitions) : [] });
            }
            for (i = 0; i < at.numTracks; i++) {
                audio.push({ name: String(at[i].name), clips: spans(at[i].clips) });
            }
            return ok({
                host: { version: String(app.version) },
                sequence: {
                    name: String(seq.name),
                    id: String(seq.sequenceID),
                    timebase: String(seq.timebase),
                    zeroPoint: String(seq.zeroPoint),
                    end: String(seq.end),
                    width: seq.frameSizeHorizontal,
                    height: seq.frameSizeVertical,
                    inPoint: ticksOf(seq.getInPointAsTime()),
                    outPoint: ticksOf(seq.getOutPointAsTime()),
                    playhead: ticksOf(seq.getPlayerPosition()),
                    displayFormat: seq.getSettings().videoDisplayFormat,
                    videoTracks: tracks,
                    audioTracks: audio,
                    markers: markerFacts(seq)
                }
            });
        } catch (e) {
            return fail('host_error', 'reading the sequence failed: ' + errorText(e));
        }
    }

    // ------------------------------------------------------------ project items

    function findBin(name) {
        var root = app.project.rootItem, kids = root.children, i, it;
        for (i = 0; i < kids.numItems; i++) {
            it = kids[i];
            if (it.type === ProjectItemType.BIN && String(it.name) === name) { return it; }
        }
        return null;
    }

    function findImported(path) {
        var found = app.project.rootItem.findItemsMatchingMediaPath(path, 1);
        if (!found || !found.length) { return null; }
        return found[0];
    }

    /**
     * Start importing `path` into the bin `binName` (created if missing). importFiles returns
     * before the item exists and says true even for a missing file, so the file is checked here
     * and the panel then polls findItem() a bounded number of times.
     */
    function importMedia(path, binName) {
        try {
            if (!app.project) { return fail('no_project', 'no project is open'); }
            if (!new File(path).exists) { return fail('media_missing', 'the result file does not exist: ' + path); }
            if (findImported(path)) { return ok({ imported: false, present: true }); }
            var bin = findBin(binName);
            if (!bin) { bin = app.project.rootItem.createBin(binName); }
            if (!bin) { return fail('host_error', 'could not create the bin ' + binName); }
            app.project.importFiles([path], true, bin, false);
            return ok({ imported: true, present: false });
        } catch (e) {
            return fail('host_error', 'importing ' + path + ' failed: ' + errorText(e));
        }
    }

    function findItem(path) {
        try {
            var item = findImported(path);
            if (!item) { return ok({ found: false }); }
            return ok({ found: true, name: String(item.name), offline: item.isOffline() ? true : false });
        } catch (e) {
            return fail('host_error', 'looking for ' + path + ' in the project failed: ' + errorText(e));
        }
    }

    // ------------------------------------------------------------ placing

    /* What a track holds over [startTicks, endTicks): clips and transitions, as {kind, name, start, end}. */
    function occupants(track, startTicks, endTicks) {
        var out = [], clips = track.clips, trans = track.transitions, i;
        for (i = 0; i < clips.numItems; i++) {
            if (overlaps(ticksOf(clips[i].start), ticksOf(clips[i].end), startTicks, endTicks)) {
                out.push({ kind: 'clip', name: String(clips[i].name), start: ticksOf(clips[i].start), end: ticksOf(clips[i].end) });
            }
        }
        if (trans) {
            for (i = 0; i < trans.numItems; i++) {
                if (overlaps(ticksOf(trans[i].start), ticksOf(trans[i].end), startTicks, endTicks)) {
                    out.push({ kind: 'transition', name: String(trans[i].name), start: ticksOf(trans[i].start), end: ticksOf(trans[i].end) });
                }
            }
        }
        return out;
    }

    function nodeIds(track) {
        var ids = {}, clips = track.clips, i;
        for (i = 0; i < clips.numItems; i++) { ids[String(clips[i].nodeId)] = true; }
        return ids;
    }

    /* The items of `track` named `name` whose nodeId is not in `before`: what the last overwrite put
     * there (an overwrite the editor confirmed also leaves cut remains with new ids and their own names). */
    function newItems(track, before, name) {
        var out = [], clips = track.clips, i;
        for (i = 0; i < clips.numItems; i++) {
            if (!before[String(clips[i].nodeId)] && String(clips[i].name) === name) { out.push(clips[i]); }
        }
        return out;
    }

    function removeAll(items) {
        var i;
        for (i = 0; i < items.length; i++) { items[i].remove(0, 1); }
    }

    /* True when every occupant lies inside one of the `confirmed` spans of its kind. `confirmed` is
     * the panel's "kind:start-end,..." list of what the editor agreed may be overwritten; an
     * earlier part of the same result may already have cut one of those, leaving a remainder
     * that still lies inside its confirmed span. */
    function allConfirmed(list, confirmed) {
        var spans = confirmed ? String(confirmed).split(',') : [], i, j, kind, range, ok1;
        for (i = 0; i < list.length; i++) {
            ok1 = false;
            for (j = 0; j < spans.length && !ok1; j++) {
                kind = spans[j].split(':');
                range = kind[1].split('-');
                ok1 = kind[0] === list[i].kind && cmpTicks(range[0], list[i].start) <= 0 && cmpTicks(list[i].end, range[1]) <= 0;
            }
            if (!ok1) { return false; }
        }
        return true;
    }

    /**
     * Place frames [inTicks, outTicks) of the media at `path` on video track `trackIndex` over
     * [recordTicks, recordEndTicks) (from the sequence's first frame, zero point excluded), as a
     * subclip named `takeName` with colour label `label`.
     *
     * Premiere's overwrite destroys what it covers, so the range must be free on the live track
     * (clips and transitions both) unless all that is there lies inside what the editor agreed to
     * have overwritten (`confirmed`, see allConfirmed). Afterwards the new item is found
     * (nodeIds not there before) and read back; if it is not exactly the intended record range
     * and source in, or anything landed on an audio track, whatever this call placed is removed
     * again and the reply says what landed. So each call either places exactly one correct clip
     * or leaves the sequence as it was.
     */
    function place(path, trackIndex, recordTicks, recordEndTicks, inTicks, outTicks, tpfTicks, takeName, label,
                   expectSequenceId, confirmed) {
        try {
            var seq = activeSequence(), i;
            if (!seq) { return fail('no_sequence', 'no sequence is open'); }
            if (expectSequenceId && String(seq.sequenceID) !== expectSequenceId) {
                return fail('sequence_changed', 'the active sequence is not the one the job was made for; open it and place again');
            }
            if (String(seq.timebase) !== tpfTicks) {
                return fail('sequence_changed', 'the sequence frame rate changed since the job started');
            }
            if (trackIndex < 0 || trackIndex >= seq.videoTracks.numTracks) {
                return fail('no_such_track', 'video track V' + (trackIndex + 1) + ' does not exist');
            }
            var track = seq.videoTracks[trackIndex];
            var busy = occupants(track, recordTicks, recordEndTicks);
            if (busy.length && !allConfirmed(busy, confirmed)) {
                return sfJson({ ok: false, error: { code: 'not_free', message: 'V' + (trackIndex + 1) + ' is not free there now (' +
                    busy[0].kind + " '" + busy[0].name + "')" }, occupants: busy });
            }
            var item = findImported(path);
            if (!item) { return fail('not_imported', 'the result is not in the project yet: ' + path); }
            // Audio goes to an audio track that is empty over the range, else past the last one
            // (where Premiere places nothing): the subclip is meant to be video only, and an
            // overwrite on a used audio track would destroy the editor's sound.
            var at = seq.audioTracks, aIndex = at.numTracks, audioBefore = [];
            for (i = 0; i < at.numTracks; i++) {
                audioBefore.push(nodeIds(at[i]));
                if (aIndex === at.numTracks && occupants(at[i], recordTicks, recordEndTicks).length === 0) { aIndex = i; }
            }
            var sub = item.createSubClip(takeName, inTicks, outTicks, 1, 1, 0);
            if (!sub) { return fail('host_error', 'could not make a subclip of ' + path); }
            sub.setColorLabel(label);
            var before = nodeIds(track);
            seq.overwriteClip(sub, sfSecondsArg(recordTicks, tpfTicks), trackIndex, aIndex);
            var landed = newItems(track, before, takeName), landedAudio = [];
            for (i = 0; i < at.numTracks; i++) { landedAudio = landedAudio.concat(newItems(at[i], audioBefore[i], takeName)); }
            var got = landed.length === 1 ? {
                start: ticksOf(landed[0].start), end: ticksOf(landed[0].end), inPoint: ticksOf(landed[0].inPoint),
                name: String(landed[0].name), nodeId: String(landed[0].nodeId), track: trackIndex
            } : null;
            var why = '';
            if (!landed.length) { why = 'no clip landed on V' + (trackIndex + 1); }
            else if (landed.length > 1) { why = landed.length + ' clips landed on V' + (trackIndex + 1); }
            else if (got.start !== recordTicks || got.end !== recordEndTicks || got.inPoint !== inTicks) {
                why = 'the clip landed on V' + (trackIndex + 1) + ' at ticks ' + got.start + '-' + got.end + ' (source in ' +
                    got.inPoint + ') instead of ' + recordTicks + '-' + recordEndTicks + ' (source in ' + inTicks + ')';
            }
            else if (landedAudio.length) { why = 'audio landed on an audio track (the subclip was not video only)'; }
            if (why) {
                removeAll(landed);
                removeAll(landedAudio);
                return sfJson({ ok: false, error: { code: 'placement_mismatch', message: why }, landed: got });
            }
            got.label = sub.getColorLabel();
            return ok(got);
        } catch (e) {
            return fail('host_error', 'placing ' + path + ' failed: ' + errorText(e));
        }
    }

    /**
     * Remove the clip on video track `trackIndex` that is exactly [startTicks, endTicks) and named
     * `name` (a placed take), leaving everything else where it is (remove(0, 1): no ripple).
     * Replies {removed: false} when no such clip is there (the editor moved, trimmed or deleted it).
     */
    function removeClip(trackIndex, startTicks, endTicks, name) {
        try {
            var seq = activeSequence(), clips, i, c;
            if (!seq) { return fail('no_sequence', 'no sequence is open'); }
            if (trackIndex < 0 || trackIndex >= seq.videoTracks.numTracks) { return ok({ removed: false }); }
            clips = seq.videoTracks[trackIndex].clips;
            for (i = 0; i < clips.numItems; i++) {
                c = clips[i];
                if (ticksOf(c.start) === startTicks && ticksOf(c.end) === endTicks && String(c.name) === name) {
                    c.remove(0, 1);
                    return ok({ removed: true });
                }
            }
            return ok({ removed: false });
        } catch (e) {
            return fail('host_error', 'removing ' + name + ' failed: ' + errorText(e));
        }
    }

    // ------------------------------------------------------------ markers

    function timeAt(ticksStr) {
        var t = new Time();
        t.ticks = ticksStr;
        return t;
    }

    /** A sequence marker over [startTicks, endTicks) carrying the take's recipe; read back. */
    function addMarker(startTicks, endTicks, tpfTicks, name, comments) {
        try {
            var seq = activeSequence();
            if (!seq) { return fail('no_sequence', 'no sequence is open'); }
            var markers = seq.markers;
            var m = markers.createMarker(sfSecondsArg(startTicks, tpfTicks));
            if (!m) { return fail('host_error', 'Premiere did not create the marker'); }
            m.start = timeAt(startTicks);
            m.end = timeAt(endTicks);
            m.name = name;
            m.comments = comments;
            var got = { guid: String(m.guid), name: String(m.name), comments: String(m.comments), start: ticksOf(m.start), end: ticksOf(m.end) };
            if (got.start !== startTicks || got.end !== endTicks || got.name !== name || got.comments !== comments) {
                markers.deleteMarker(m);
                return fail('marker_mismatch', 'the take marker read back as ' + got.start + '-' + got.end + ' instead of ' +
                    startTicks + '-' + endTicks);
            }
            return ok(got);
        } catch (e) {
            return fail('host_error', 'adding the take marker failed: ' + errorText(e));
        }
    }

    /** Delete the marker with `guid` (or, when Premiere gave none, the one at startTicks named `name`). */
    function removeMarker(guid, startTicks, name) {
        try {
            var seq = activeSequence();
            if (!seq) { return fail('no_sequence', 'no sequence is open'); }
            var markers = seq.markers, m = markers.getFirstMarker();
            while (m) {
                if ((guid && String(m.guid) === guid) || (!guid && ticksOf(m.start) === startTicks && String(m.name) === name)) {
                    markers.deleteMarker(m);
                    return ok({ removed: true });
                }
                m = markers.getNextMarker(m);
            }
            return ok({ removed: false });
        } catch (e) {
            return fail('host_error', 'removing the take marker failed: ' + errorText(e));
        }
    }

    function ping() {
        try {
            return ok({ version: String(app.version), sequence: activeSequence() ? true : false });
        } catch (e) {
            return fail('host_error', errorText(e));
        }
    }

    return {
        facts: facts,
        importMedia: importMedia,
        findItem: findItem,
        place: place,
        removeClip: removeClip,
        addMarker: addMarker,
        removeMarker: removeMarker,
        ping: ping,
        _json: sfJson,
        _secondsArg: sfSecondsArg
    };
}());
