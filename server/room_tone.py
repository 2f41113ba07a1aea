"""Room tone under made frames: a spectrally matched continuation of a clip's ambient sound.

Pure numpy. The noise floor is the mean power spectrum (STFT, Hann) of the quietest frames of
the source audio near the edit, so speech and other events, which are louder, do not enter it;
the tone is noise with that magnitude spectrum and random phase, overlap-added, so no stretch of
the source is ever copied. Joins are equal-power crossfades (the signals are uncorrelated) from
the real audio's time-mirrored edge: the first made sample equals the last real one, so no click.

Audio arrays are float32 ``(channels, samples)`` in -1..1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME = 2048  # STFT frame at 44.1/48 kHz: ~43 ms, fine enough for hum lines, long enough for bass
QUIET_SHARE = 0.25  # the quietest quarter of the frames is taken as the floor
FADE_SECONDS = 0.03  # each join's crossfade
ANALYSIS_SECONDS = 3.0  # how much source audio next to an edit the floor is estimated from
_MIN_FRAME = 64
_BLOCK = 256  # synthesis frames made at once


@dataclass(frozen=True)
class NoiseFloor:
    """Per channel magnitude spectrum of a clip's room tone, for an STFT of ``frame`` samples."""

    magnitude: np.ndarray  # (channels, frame // 2 + 1)
    frame: int


def _frame_for(samples: int) -> int:
    """The STFT frame: FRAME, or the largest power of two that leaves at least a few frames."""
    frame = FRAME
    while frame > _MIN_FRAME and samples < 4 * frame:
        frame //= 2
    return frame


def _stft_power(audio: np.ndarray, frame: int) -> np.ndarray:
    """|STFT|^2, (channels, frames, bins), Hann window, hop frame/4; short audio is one frame."""
    hop = frame // 4
    channels, n = audio.shape
    if n < frame:
        audio = np.pad(audio, ((0, 0), (0, frame - n)))
        n = frame
    starts = np.arange(0, n - frame + 1, hop)
    windows = audio[:, starts[:, None] + np.arange(frame)] * np.hanning(frame).astype(np.float32)
    return np.abs(np.fft.rfft(windows, axis=-1)) ** 2


def estimate_floor(audio: np.ndarray, frame: int | None = None) -> NoiseFloor:
    """The noise floor of ``audio``: mean power of its quietest STFT frames, per channel."""
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"room tone needs (channels, samples) audio with samples, got {audio.shape}")
    frame = frame or _frame_for(audio.shape[1])
    power = _stft_power(audio.astype(np.float64), frame)
    loudness = power.sum(axis=(0, 2))  # frames ranked across all channels: one decision per instant
    keep = max(1, int(round(len(loudness) * QUIET_SHARE)))
    quiet = np.argsort(loudness)[:keep]
    return NoiseFloor(np.sqrt(power[:, quiet].mean(axis=1)), frame)


def synthesize(floor: NoiseFloor, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` of noise with the floor's magnitude spectrum and random phase, overlap-added."""
    frame, channels = floor.frame, floor.magnitude.shape[0]
    hop = frame // 4
    count = samples // hop + 4  # frames enough to cover the stretch with full overlap inside it
    window = np.hanning(frame)
    out = np.zeros((channels, (count - 1) * hop + frame), np.float32)
    weight = np.zeros(out.shape[1])
    for first in range(0, count, _BLOCK):  # a block of frames at a time: a long gap stays small
        block = min(_BLOCK, count - first)
        phase = rng.uniform(0, 2 * np.pi, (channels, block, floor.magnitude.shape[1]))
        frames = np.fft.irfft(floor.magnitude[:, None, :] * np.exp(1j * phase), n=frame, axis=-1) * window
        for k in range(block):
            at = (first + k) * hop
            out[:, at:at + frame] += frames[:, k]
            weight[at:at + frame] += window ** 2
    # Frames with independent phases add in power, not amplitude: the weighted overlap-add
    # leaves hop/frame of the analysed power, which sqrt(frame/hop) restores.
    lead = frame  # past the ramp-up, where fewer frames overlap
    body = out[:, lead:lead + samples] / weight[lead:lead + samples] * np.sqrt(frame / hop)
    return body.astype(np.float32)


def _curves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power (cos, sin) fade of n samples: out and in; their squares sum to one."""
    theta = (np.arange(n) + 0.5) / n * (np.pi / 2)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


def _fade(rate: int, samples: int, edge: np.ndarray | None) -> int:
    real = edge.shape[1] if edge is not None else samples
    return max(0, min(int(round(FADE_SECONDS * rate)), samples // 2, real))


def join_after(before: np.ndarray, tone: np.ndarray, rate: int) -> None:
    """Crossfade, in place, the start of ``tone`` from the real audio ending just before it."""
    n = _fade(rate, tone.shape[1], before)
    if n:
        fade_out, fade_in = _curves(n)
        tone[:, :n] = before[:, ::-1][:, :n] * fade_out + tone[:, :n] * fade_in


def join_before(tone: np.ndarray, after: np.ndarray, rate: int) -> None:
    """Crossfade, in place, the end of ``tone`` into the real audio starting just after it."""
    n = _fade(rate, tone.shape[1], after)
    if n:
        fade_out, fade_in = _curves(n)
        tone[:, -n:] = tone[:, -n:] * fade_out + after[:, :n][:, ::-1] * fade_in


def _free_end(tone: np.ndarray, rate: int, at_end: bool) -> None:
    """Fade the end of an extension that touches no real audio, so it stops without a click."""
    n = _fade(rate, tone.shape[1], None)
    if n:
        fade_out, fade_in = _curves(n)
        if at_end:
            tone[:, -n:] *= fade_out
        else:
            tone[:, :n] *= fade_in


def _matched(near: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Tone matched to ``near`` (silence when it holds too little audio to measure)."""
    if near.shape[1] < _MIN_FRAME:
        return np.zeros((near.shape[0], samples), np.float32)
    return synthesize(estimate_floor(near), samples, rng)


def extension_tone(near: np.ndarray, rate: int, samples: int, side: str, seed: int = 0) -> np.ndarray:
    """Room tone for an extension: ``near`` is the clip's audio next to the edit, in time order,
    ending at the edit (tail) or starting there (head); the result joins it there."""
    tone = _matched(near, samples, np.random.default_rng(seed))
    if side == "tail":
        join_after(near, tone, rate)
    else:
        join_before(tone, near, rate)
    _free_end(tone, rate, at_end=side == "tail")
    return tone


def gap_tone(before: np.ndarray | None, after: np.ndarray | None, rate: int, samples: int,
             seed: int = 0) -> np.ndarray:
    """Room tone for a gap: matched to each side, crossfaded (equal power) from the clip before
    to the clip after across the gap, joined to both. A side without audio takes the other's."""
    near = [side for side in (before, after) if side is not None and side.shape[1] >= _MIN_FRAME]
    if not near:  # the streams hold no sound next to the gap: silence, in their channels
        return np.zeros(((before if before is not None else after).shape[0], samples), np.float32)
    rng = np.random.default_rng(seed)
    first = _matched(near[0], samples, rng)
    if len(near) == 2:
        fade_out, fade_in = _curves(samples)
        tone = first * fade_out + _matched(near[1], samples, rng) * fade_in
    else:
        tone = first
    if before is not None:
        join_after(before, tone, rate)
    else:
        _free_end(tone, rate, at_end=False)
    if after is not None:
        join_before(tone, after, rate)
    else:
        _free_end(tone, rate, at_end=True)
    return tone
