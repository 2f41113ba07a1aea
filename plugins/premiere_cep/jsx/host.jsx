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
            speed: clip.getSpeed(),
            reversed: clip.isSpeedReversed() ? true : false,
            disabled: clip.disabled ? true : false,
            selected: clip.isSelected() ? true : false
        };
    }

    /** Facts of the active sequence: rate, zero point, marks, playhead and every video clip. */
    function facts() {
        try {
            var seq = activeSequence();
            if (!seq) { return fail('no_sequence', 'open a sequence in the Timeline first'); }
            var tracks = [], vt = seq.videoTracks, i, j, track, clips, list;
            for (i = 0; i < vt.numTracks; i++) {
                track = vt[i];
                clips = track.clips;
                list = [];
                for (j = 0; j < clips.numItems; j++) { list.push(clipFacts(clips[j])); }
                tracks.push({ name: String(track.name), clips: list });
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
                    videoTracks: tracks
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

    function clipStartingAt(track, startTicks) {
        var clips = track.clips, i;
        for (i = 0; i < clips.numItems; i++) {
            if (ticksOf(clips[i].start) === startTicks) { return clips[i]; }
        }
        return null;
    }

    /**
     * Overwrite frames [inTicks, outTicks) of the media at `path` onto video track `trackIndex`
     * at record time `recordTicks` (from the sequence's first frame, zero point excluded).
     * The range is cut as a hard-bounded video-only subclip, placed with Sequence.overwriteClip,
     * then the track is read back: the result names the placed clip's start/end ticks.
     */
    function place(path, trackIndex, recordTicks, inTicks, outTicks, tpfTicks, subclipName, expectSequenceId) {
        try {
            var seq = activeSequence();
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
            var item = findImported(path);
            if (!item) { return fail('not_imported', 'the result is not in the project yet: ' + path); }
            var sub = item.createSubClip(subclipName, inTicks, outTicks, 1, 1, 0);
            if (!sub) { return fail('host_error', 'could not make a subclip of ' + path); }
            seq.overwriteClip(sub, sfSecondsArg(recordTicks, tpfTicks), trackIndex, 0);
            var placed = clipStartingAt(seq.videoTracks[trackIndex], recordTicks);
            if (!placed) {
                return fail('placement_failed', 'Premiere reported success but no clip starts at the intended time on V' + (trackIndex + 1));
            }
            return ok({
                start: ticksOf(placed.start),
                end: ticksOf(placed.end),
                inPoint: ticksOf(placed.inPoint),
                outPoint: ticksOf(placed.outPoint),
                name: String(placed.name)
            });
        } catch (e) {
            return fail('host_error', 'placing ' + path + ' failed: ' + errorText(e));
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
        ping: ping,
        _json: sfJson,
        _secondsArg: sfSecondsArg
    };
}());
