"""The sound of a job's new media, and which file's sound its placements carry.

Extension and gap fill get room tone (:mod:`server.room_tone`) matched to the clip's own audio at
the edit, at the source's rate and channels; an extension made only of handles placed from their
own file carries that file's sound. Other operations, and clips without audio, get none.
"""

from __future__ import annotations

from fractions import Fraction

from otio_tools.plan import Plan
from server import media_audio, media_io, room_tone


def room_tone_for(plan: Plan) -> media_audio.Audio | None:
    """The new media's sound: room tone matched to the clip's own audio at the edit, at its rate
    and channels, as long as the new frames; None for other operations or a clip without audio.
    Copied (conformed) handles get tone too: their real sound would not last their new frames."""
    if plan.operation not in ("extend", "fill_gap") or not plan.media_frames:
        return None
    if plan.operation == "extend":
        tail = plan.request.side == "tail"
        copied = plan.copied_handles > 0
        if tail:  # the clip's out point: the first handle when handles are copied, else past the last real frame
            frame = plan.handles.indices[0] if copied else plan.context.indices[-1] + 1
        else:
            frame = plan.handles.indices[-1] + 1 if copied else plan.context.indices[0]
        near = _audio_at(plan.context.media, frame, before_edit=tail)
        if near is None:
            return None
        samples = media_audio.audio_samples(plan.media_frames, plan.rate, near.rate)
        return media_audio.Audio(room_tone.extension_tone(near.samples, near.rate, samples, plan.request.side,
                                                       plan.request.seed), near.rate, near.layout)
    before = _audio_at(plan.context.media, plan.context.indices[-1] + 1, before_edit=True)
    after = _audio_at(plan.after.media, plan.after.indices[0], before_edit=False, like=before)
    like = before or after
    if like is None:
        return None
    samples = media_audio.audio_samples(plan.media_frames, plan.rate, like.rate)
    tone = room_tone.gap_tone(before and before.samples, after and after.samples, like.rate, samples,
                              plan.request.seed)
    return media_audio.Audio(tone, like.rate, like.layout)


def handles_sound(plan: Plan) -> str | None:
    """An extension made only of handles placed from their own file (nothing made, so no room
    tone): that file when it has sound, which the handles then carry; else None."""
    if plan.media_frames or not (plan.handles and plan.handles_in_place):
        return None
    first = Fraction(plan.handles.indices[0]) / media_io.probe(plan.handles.media).rate
    # an empty stretch is enough: read_audio says None only when the file has no audio stream
    return plan.handles.media if media_audio.read_audio(plan.handles.media, first, first) is not None else None


def _audio_at(media: str, frame: int, *, before_edit: bool, like: media_audio.Audio | None = None
              ) -> media_audio.Audio | None:
    """The source's audio next to an edit at source ``frame`` (a stretch ending there, or starting
    there), resampled to ``like``'s rate and layout when given; None when the file has no audio."""
    edit = Fraction(frame) / media_io.probe(media).rate
    span = Fraction(room_tone.ANALYSIS_SECONDS)
    start, end = (max(Fraction(0), edit - span), edit) if before_edit else (edit, edit + span)
    return media_audio.read_audio(media, start, end, rate=like and like.rate, layout=like and like.layout)
