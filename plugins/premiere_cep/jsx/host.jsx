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

    /* The sum of two non-negative integer tick strings, exactly. */
    function addTicks(a, b) {
        a = String(a);
        b = String(b);
        var out = '', carry = 0, i = a.length - 1, j = b.length - 1, d;
        while (i >= 0 || j >= 0 || carry) {
            d = (i >= 0 ? a.charCodeAt(i--) - 48 : 0) + (j >= 0 ? b.charCodeAt(j--) - 48 : 0) + carry;
            carry = d > 9 ? 1 : 0;
            out = String(d % 10) + out;
        }
        return out || '0';
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

    /* An audio item: where it is, and what it plays from where (so the host and panel can tell a
     * take's sound from an editor's item that only shares its name and slot). */
    function audioFacts(clip) {
        var item = clip.projectItem;
        return { name: String(clip.name), nodeId: String(clip.nodeId), start: ticksOf(clip.start), end: ticksOf(clip.end),
            inPoint: ticksOf(clip.inPoint), mediaPath: item ? String(item.getMediaPath() || '') : '' };
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
                clips = at[i].clips;
                list = [];
                for (j = 0; j < clips.numItems; j++) { list.push(audioFacts(clips[j])); }
                audio.push({ name: String(at[i].name), clips: list, transitions: at[i].transitions ? spans(at[i].transitions) : [] });
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
            var known = findImported(path);
            if (known) { return ok({ imported: false, present: true, offline: known.isOffline() ? true : false }); }
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

    /* What a track holds over [startTicks, endTicks): clips and transitions, as {kind, nodeId, name, start, end}. */
    function occupants(track, startTicks, endTicks) {
        var out = [], clips = track.clips, trans = track.transitions, i;
        for (i = 0; i < clips.numItems; i++) {
            if (overlaps(ticksOf(clips[i].start), ticksOf(clips[i].end), startTicks, endTicks)) {
                out.push({ kind: 'clip', nodeId: String(clips[i].nodeId), name: String(clips[i].name),
                    start: ticksOf(clips[i].start), end: ticksOf(clips[i].end) });
            }
        }
        if (trans) {
            for (i = 0; i < trans.numItems; i++) {
                if (overlaps(ticksOf(trans[i].start), ticksOf(trans[i].end), startTicks, endTicks)) {
                    out.push({ kind: 'transition', nodeId: String(trans[i].nodeId), name: String(trans[i].name),
                        start: ticksOf(trans[i].start), end: ticksOf(trans[i].end) });
                }
            }
        }
        return out;
    }

    /* "clip:<nodeId>" and "transition:<nodeId>" of everything on a track. */
    function itemKeys(track) {
        var found = {}, clips = track.clips, trans = track.transitions, i;
        for (i = 0; i < clips.numItems; i++) { found['clip:' + String(clips[i].nodeId)] = true; }
        if (trans) { for (i = 0; i < trans.numItems; i++) { found['transition:' + String(trans[i].nodeId)] = true; } }
        return found;
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

    /* TrackItem.remove(0, 1) for each, read back: an item still on `track` afterwards was not removed
     * (its return value, "0 if successful" in the guide, is not relied on). True when all went. */
    function removeAll(items, track) {
        var i, ids = [], left;
        for (i = 0; i < items.length; i++) { ids.push(String(items[i].nodeId)); items[i].remove(0, 1); }
        left = nodeIds(track);
        for (i = 0; i < ids.length; i++) { if (left[ids[i]]) { return false; } }
        return true;
    }

    /* True when every occupant is one the editor agreed may be overwritten. `confirmed` is the
     * panel's list [{kind, nodeId, name, start, end}] of exactly what the editor saw in the dialog.
     * An occupant counts when it is that item (same nodeId), or what an earlier part of the same
     * result left of it (inside its span, same name, and the confirmed item itself is gone): a
     * clip the editor put there since, even inside a confirmed span, is refused. */
    function allConfirmed(track, list, confirmed) {
        var present = itemKeys(track), i, j, c, ok1;
        confirmed = confirmed || [];
        for (i = 0; i < list.length; i++) {
            ok1 = false;
            for (j = 0; j < confirmed.length && !ok1; j++) {
                c = confirmed[j];
                ok1 = c.kind === list[i].kind && cmpTicks(c.start, list[i].start) <= 0 && cmpTicks(list[i].end, c.end) <= 0 &&
                    (String(c.nodeId) === list[i].nodeId || (String(c.name) === list[i].name && !present[c.kind + ':' + c.nodeId]));
            }
            if (!ok1) { return false; }
        }
        return true;
    }

    /* createSubClip's two media flags: Adobe's d.ts says (takeVideo, takeAudio), the guide's signature
     * line (takeAudio, takeVideo). The d.ts order is tried first; when a placement shows the other
     * order is the real one (nothing landed on video), it is remembered for this session. */
    var subclipVideoFirst = true;

    function subclipFlags(videoFirst) {
        return videoFirst ? [1, 0] : [0, 1];
    }

    /* Remove what one overwrite of `takeName` added on `track` and the audio tracks; used on every way
     * out of place() that is not a correct placement, so nothing of a failed call stays. */
    function undoLanding(st) {
        var i;
        var gone = true;
        if (!st || !st.overwritten) { return true; }
        gone = removeAll(newItems(st.track, st.before, st.takeName), st.track) && gone;
        for (i = 0; i < st.at.numTracks; i++) { gone = removeAll(newItems(st.at[i], st.audioBefore[i], st.takeName), st.at[i]) && gone; }
        st.overwritten = false;
        return gone;
    }

    /* The span [in, out] (tick strings) Premiere answers for media type `type` of project item `pi`,
     * or null when the answer is no pair of tick counts (or the call fails). */
    function spanOf(pi, type) {
        try {
            var span = [ticksOf(pi.getInPoint(type)), ticksOf(pi.getOutPoint(type))];
            return /^\d+$/.test(span[0]) && /^\d+$/.test(span[1]) ? span : null;
        } catch (e) {
            return null;
        }
    }

    /* Why the subclip `sub` of `item` must not be overwritten with, or '': a span clearly longer than
     * asked (its picture's or its sound's) would overwrite past the free range. Only each span's
     * length is used: whether Premiere counts a project item's in and out from the media's first
     * frame or its timecode is unmeasured, and so is what it answers for a media type a subclip
     * lacks. A span that is the whole media's, or no span at all, says nothing (a type it lacks, or
     * an answer Premiere gives for any subclip: refusing it could refuse every placement); the
     * read-back after the overwrite still holds. */
    function subclipSpanProblem(item, sub, st) {
        var type, own, whole;
        for (type = 1; type <= 2; type++) {
            own = spanOf(sub, type);
            whole = spanOf(item, type);
            if (!own || (whole && own[0] === whole[0] && own[1] === whole[1])) { continue; }
            if (cmpTicks(addTicks(own[1], st.inTicks), addTicks(st.outTicks, own[0])) > 0) {
                return 'Premiere made the ' + (type === 1 ? 'picture' : 'sound') + ' of the subclip of ' + st.path +
                    ' over source ticks ' + own.join('-') + ', longer than the ' + st.inTicks + '-' + st.outTicks +
                    ' asked for; nothing was placed';
            }
        }
        return '';
    }

    /* One overwrite of a subclip made with `videoFirst` flags (both flags set when its sound goes too,
     * so their order does not matter); returns {landed, landedAudio, sub}, or {refused} when no
     * subclip came back or it must not be placed (subclipSpanProblem): then nothing was overwritten. */
    function overwriteOnce(st, item, videoFirst) {
        var flags = st.withAudio ? [1, 1] : subclipFlags(videoFirst), i, landedAudio = [];
        var sub = item.createSubClip(st.takeName, st.inTicks, st.outTicks, 1, flags[0], flags[1]);
        if (!sub) { return { refused: 'could not make a subclip of ' + st.path }; }
        var wrong = subclipSpanProblem(item, sub, st);
        if (wrong) { return { refused: wrong }; }
        sub.setColorLabel(st.label);
        st.before = nodeIds(st.track);
        st.audioBefore = [];
        for (i = 0; i < st.at.numTracks; i++) { st.audioBefore.push(nodeIds(st.at[i])); }
        st.overwritten = true;
        st.seq.overwriteClip(sub, sfSecondsArg(st.recordTicks, st.tpfTicks), st.trackIndex, st.aIndex);
        for (i = 0; i < st.at.numTracks; i++) {
            landedAudio = landedAudio.concat(newItems(st.at[i], st.audioBefore[i], st.takeName));
        }
        return { sub: sub, landed: newItems(st.track, st.before, st.takeName), landedAudio: landedAudio,
            onAudioTrack: st.withAudio ? newItems(st.at[st.aIndex], st.audioBefore[st.aIndex], st.takeName) : [] };
    }

    /* The read-back of what one overwrite put on a track: {got (when exactly one item landed), why
     * ('' when it is exactly the intended record range and source in)}. `what`: 'the clip' or 'its sound'. */
    function readBack(landed, trackIndex, label, what, st) {
        var c = landed[0], got;
        if (landed.length !== 1) { return { got: null, why: landed.length ? landed.length + ' items landed on ' + label : 'nothing landed on ' + label }; }
        got = { start: ticksOf(c.start), end: ticksOf(c.end), inPoint: ticksOf(c.inPoint), name: String(c.name), nodeId: String(c.nodeId),
            track: trackIndex, mediaPath: c.projectItem ? String(c.projectItem.getMediaPath()) : '' };
        if (got.start === st.recordTicks && got.end === st.recordEndTicks && got.inPoint === st.inTicks) { return { got: got, why: '' }; }
        return { got: got, why: what + ' landed on ' + label + ' at ticks ' + got.start + '-' + got.end + ' (source in ' + got.inPoint +
            ') instead of ' + st.recordTicks + '-' + st.recordEndTicks + ' (source in ' + st.inTicks + ')' };
    }

    /**
     * Place frames [inTicks, outTicks) of the media at `path` on video track `trackIndex` over
     * [recordTicks, recordEndTicks) (from the sequence's first frame, zero point excluded), as a
     * subclip named `takeName` with colour label `label`.
     *
     * Premiere's overwrite destroys what it covers, so the range must be free on the live track
     * (clips and transitions both) unless all that is there is what the editor agreed to have
     * overwritten (`confirmed`, see allConfirmed). Afterwards the new item is found (nodeIds not
     * there before) and read back; if it is not exactly the intended record range and source in,
     * or anything landed on an audio track, or the DOM threw on the way, whatever this call placed
     * is removed again and the reply says what landed. So each call either places exactly one
     * correct clip or leaves the sequence as it was.
     *
     * With `audioTrack` (a 0-based audio track index) the media's sound goes too, linked, on that
     * audio track over the same record range: that range must be free there (an overwrite destroys
     * on audio tracks as on video ones, and sound never overwrites), and the sound is read back like
     * the picture (exactly one audio clip there, same record range and source in, nothing on another
     * audio track) or everything of the call is removed again.
     */
    function place(path, trackIndex, recordTicks, recordEndTicks, inTicks, outTicks, tpfTicks, takeName, label,
                   expectSequenceId, confirmed, audioTrack) {
        var st = null;
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
            if (busy.length && !allConfirmed(track, busy, confirmed)) {
                return sfJson({ ok: false, error: { code: 'not_free', message: 'V' + (trackIndex + 1) + ' is not free there now (' +
                    busy[0].kind + " '" + busy[0].name + "')" }, occupants: busy });
            }
            var at = seq.audioTracks, aIndex = at.numTracks, withAudio = typeof audioTrack === 'number' && audioTrack >= 0;
            if (withAudio) {
                if (audioTrack >= at.numTracks) { return fail('no_such_track', 'audio track A' + (audioTrack + 1) + ' does not exist'); }
                var busyA = occupants(at[audioTrack], recordTicks, recordEndTicks);
                if (busyA.length) {
                    return sfJson({ ok: false, error: { code: 'not_free', message: 'A' + (audioTrack + 1) + ' is not free there now (' +
                        busyA[0].kind + " '" + busyA[0].name + "')" }, occupants: busyA });
                }
                aIndex = audioTrack;
            } else {
                // No sound: the subclip is meant to be video only; its audio target is an audio track empty
                // over the range, else past the last one (where Premiere places nothing), so that a subclip
                // that still has sound never overwrites the editor's.
                for (i = 0; i < at.numTracks; i++) {
                    if (aIndex === at.numTracks && occupants(at[i], recordTicks, recordEndTicks).length === 0) { aIndex = i; }
                }
            }
            var item = findImported(path);
            if (!item) { return fail('not_imported', 'the result is not in the project yet: ' + path); }
            st = { seq: seq, path: path, track: track, trackIndex: trackIndex, at: at, aIndex: aIndex, takeName: takeName, label: label,
                recordTicks: recordTicks, recordEndTicks: recordEndTicks, tpfTicks: tpfTicks, inTicks: inTicks, outTicks: outTicks,
                overwritten: false, withAudio: withAudio };
            var videoFirst = subclipVideoFirst, lead = '', tail = '';
            var r = overwriteOnce(st, item, videoFirst);
            if (!withAudio && (r.refused || (!r.landed.length && occupants(track, recordTicks, recordEndTicks).length === busy.length))) {
                // No video subclip, or no video landed and the video track is as it was: the flags read the other way round.
                if (!undoLanding(st)) { return fail('not_removed', 'audio of ' + takeName + ' landed and Premiere refused to remove it again: remove it by hand'); }
                var first = r;
                r = overwriteOnce(st, item, !videoFirst);
                // A failure says what both tries met, the first try's first.
                if (r.refused) {
                    tail = '; with the createSubClip flags the other way round, ' + r.refused;
                    r = first;
                } else {
                    videoFirst = !videoFirst;
                    lead = first.refused ? first.refused + '; with the createSubClip flags the other way round, ' : '';
                }
            }
            if (r.refused) { return fail('host_error', r.refused + tail); }
            var picture = readBack(r.landed, trackIndex, 'V' + (trackIndex + 1), 'the clip', st), got = picture.got, why = picture.why;
            if (!r.landed.length && aIndex === at.numTracks) {
                why += at.numTracks ? ' (every audio track has sound over this range, so the overwrite\'s audio target was past the ' +
                    'last audio track, where Premiere may place nothing: leave an audio track free over the range and place again)' :
                    ' (the sequence has no audio track, so the overwrite\'s audio target was past the last one, where Premiere ' +
                    'may place nothing: add an audio track and place again)';
            }
            if (!why && !withAudio && r.landedAudio.length) { why = 'audio landed on an audio track (the subclip was not video only)'; }
            else if (!why && withAudio) {
                var sound = readBack(r.onAudioTrack, aIndex, 'A' + (aIndex + 1), 'its sound', st);
                got.audio = sound.got;
                why = r.landedAudio.length !== r.onAudioTrack.length ? 'its sound landed on another audio track than A' + (aIndex + 1) :
                    sound.why + (r.onAudioTrack.length ? '' : ' (Premiere read no sound in ' + path + ')');
            }
            if (why) {
                why = lead + why + tail;
                if (!undoLanding(st)) { why += '; Premiere refused to remove it again: remove ' + takeName + ' by hand'; }
                return sfJson({ ok: false, error: { code: 'placement_mismatch', message: why }, landed: got });
            }
            got.label = r.sub.getColorLabel();
            if (!withAudio) { subclipVideoFirst = videoFirst; }
            return ok(got);
        } catch (e) {
            var undone = '';
            try { if (st && st.overwritten) { undoLanding(st); undone = '; what it had placed was removed again'; } } catch (e2) {
                undone = '; removing what it had placed failed too: ' + errorText(e2);
            }
            return fail('host_error', 'placing ' + path + ' failed: ' + errorText(e) + undone);
        }
    }

    /**
     * Remove the clip on video track `trackIndex` (audio track when `kind` is 'audio') that is exactly
     * [startTicks, endTicks), named `name` and, when given, plays `mediaPath` from source in `inTicks`
     * (a placed take or its sound), leaving everything else where it is (remove(0, 1): no ripple).
     * Replies {removed: false} when no such clip is there (the editor moved, trimmed, deleted or
     * replaced it).
     */
    function removeClip(trackIndex, startTicks, endTicks, name, inTicks, mediaPath, kind) {
        try {
            var seq = activeSequence(), clips, i, c, tracks, label;
            if (!seq) { return fail('no_sequence', 'no sequence is open'); }
            tracks = kind === 'audio' ? seq.audioTracks : seq.videoTracks;
            label = (kind === 'audio' ? 'A' : 'V') + (trackIndex + 1);
            if (!(trackIndex >= 0 && trackIndex < tracks.numTracks)) { return ok({ removed: false }); }
            clips = tracks[trackIndex].clips;
            for (i = 0; i < clips.numItems; i++) {
                c = clips[i];
                if (ticksOf(c.start) === startTicks && ticksOf(c.end) === endTicks && String(c.name) === name &&
                        (!inTicks || ticksOf(c.inPoint) === inTicks) &&
                        (!mediaPath || (c.projectItem && String(c.projectItem.getMediaPath()) === mediaPath))) {
                    if (!removeAll([c], tracks[trackIndex])) {
                        return fail('not_removed', 'Premiere refused to remove ' + name + ' (' + label + '); remove it by hand');
                    }
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

    /* The sequence marker with `guid` (or, when Premiere gave none, the one at startTicks named `name`). */
    function findMarker(markers, guid, startTicks, name) {
        var m = markers.getFirstMarker();
        while (m) {
            if ((guid && String(m.guid) === guid) || (!guid && ticksOf(m.start) === startTicks && String(m.name) === name)) { return m; }
            m = markers.getNextMarker(m);
        }
        return null;
    }

    /** Delete the take marker (see findMarker), read back: one still there is reported, not taken for deleted. */
    function removeMarker(guid, startTicks, name) {
        try {
            var seq = activeSequence();
            if (!seq) { return fail('no_sequence', 'no sequence is open'); }
            var markers = seq.markers, m = findMarker(markers, guid, startTicks, name);
            if (!m) { return ok({ removed: false }); }
            markers.deleteMarker(m);
            if (findMarker(seq.markers, guid, startTicks, name)) {
                return fail('not_removed', 'Premiere refused to delete the marker ' + name + '; delete it by hand');
            }
            return ok({ removed: true });
        } catch (e) {
            return fail('host_error', 'removing the take marker failed: ' + errorText(e));
        }
    }

    /** Whether a file the editor named (a matte) exists where Premiere's machine sees it. */
    function fileExists(path) {
        try {
            return ok({ exists: new File(path).exists ? true : false });
        } catch (e) {
            return fail('host_error', 'checking ' + path + ' failed: ' + errorText(e));
        }
    }

    /* The panel's Extension Id in CSXS/manifest.xml. */
    var EXTENSION_ID = 'com.shotforge.premiere.panel';

    /** Keep the panel loaded while it is hidden, so a job's polling and placement go on (notes §7). */
    function keepLoaded() {
        try {
            return ok({ persistent: app.setExtensionPersistent(EXTENSION_ID, 1) ? true : false });
        } catch (e) {
            return fail('host_error', 'keeping the panel loaded when hidden failed: ' + errorText(e));
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
        fileExists: fileExists,
        keepLoaded: keepLoaded,
        ping: ping,
        _json: sfJson,
        _secondsArg: sfSecondsArg
    };
}());
