"""Sound, through PyAV: reading a file's first audio stream on its video's clock (resampled when
asked), and the audio stream of a file :class:`server.media_io.MediaWriter` writes.

Samples are float32 ``(channels, count)`` in -1..1.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from server import media_probe
from server.media_probe import MediaError


@dataclass(frozen=True)
class Audio:
    """Sound as float32 ``samples`` (channels, count) in -1..1 at ``rate`` Hz; ``layout`` is
    FFmpeg's channel layout name ('mono', 'stereo', '5.1')."""

    samples: np.ndarray
    rate: int
    layout: str


def audio_samples(frames: int, rate: Fraction, sample_rate: int) -> int:
    """Audio samples lasting ``frames`` frames at ``rate`` fps, to the nearest sample."""
    return math.floor(Fraction(frames) / Fraction(rate) * sample_rate + Fraction(1, 2))


def read_audio(path: str | os.PathLike, start: Fraction, end: Fraction, *, rate: int | None = None,
               layout: str | None = None) -> Audio | None:
    """The first audio stream's sound from ``start`` to ``end`` seconds on the video's clock
    (0 is the first video frame), clipped to what the stream holds; None when there is no audio.
    Resampled to ``rate`` and ``layout`` when given (by default the stream's own)."""
    path = os.fspath(path)
    video = media_probe.layout(path)
    zero = video.first_pts * video.time_base  # audio and video share the container's clock
    container = media_probe.open_source(path)
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate, layout = rate or stream.rate, layout or stream.layout.name
        if stream.duration is not None:  # the stated end (an edit list trims AAC's last frame's padding)
            end = min(end, (stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base - zero)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        if start > 1:  # seek a second early: the decoder needs to settle, and seeks land on packets
            try:
                container.seek(int((zero + start - 1) / stream.time_base), stream=stream, backward=True)
            except av.FFmpegError:  # e.g. no index: decoding from the start still works
                pass
        first, chunks, held = None, [], 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                if first is None:
                    first = frame.pts * frame.time_base - zero
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    held += chunks[-1].shape[1]
                if first + Fraction(held, rate) >= end:
                    break
            chunks += [out.to_ndarray() for out in resampler.resample(None)]
        except av.FFmpegError as e:
            raise MediaError("media_unreadable", f"cannot decode the audio of {path}: {e}") from e
    finally:
        container.close()
    channels = av.AudioLayout(layout).nb_channels
    if first is None or not chunks:
        return Audio(np.zeros((channels, 0), np.float32), rate, layout)
    samples = np.concatenate(chunks, axis=1).astype(np.float32)
    begin = max(0, round((start - first) * rate))
    return Audio(samples[:, begin:max(begin, round((end - first) * rate))], rate, layout)


class AudioTrack:
    """``audio`` as the audio stream of a file being written at ``rate`` fps (24-bit PCM in
    QuickTime, AAC in MP4), muxed frame by frame beside the picture so the file interleaves."""

    def __init__(self, container: av.container.OutputContainer, audio: Audio, *, quicktime: bool,
                 rate: Fraction, path: str):
        self._container, self._audio, self._rate, self._path = container, audio, rate, path
        self._stream = container.add_stream("pcm_s24le" if quicktime else "aac", rate=audio.rate,
                                            layout=audio.layout)
        self._stream.time_base = Fraction(1, audio.rate)
        self._sent = 0

    def under(self, frames: int) -> None:
        """Mux the sound under the first ``frames`` frames, as far as the audio goes."""
        self._mux(min(audio_samples(frames, self._rate, self._audio.rate), self._audio.samples.shape[1]))

    def finish(self, frames: int) -> None:
        """Mux the rest and flush the encoder; the audio must last exactly ``frames`` frames, to the sample."""
        have, wanted = self._audio.samples.shape[1], audio_samples(frames, self._rate, self._audio.rate)
        if wanted != have:
            raise MediaError("encode_failed", f"cannot finish {self._path}: its audio has {have} samples, "
                             f"{frames} frames at {self._rate} fps need {wanted} at {self._audio.rate} Hz")
        self._mux(wanted, flush=True)

    def _mux(self, until: int, flush: bool = False) -> None:
        """Encode the audio from where it stopped up to sample ``until`` (and flush the encoder)."""
        try:
            if until > self._sent:
                chunk = np.ascontiguousarray(self._audio.samples[:, self._sent:until], np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._audio.layout)
                frame.rate, frame.pts = self._audio.rate, self._sent
                frame.time_base = Fraction(1, self._audio.rate)
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
                self._sent = until
            for packet in self._stream.encode(None) if flush else ():
                self._container.mux(packet)
        except (av.FFmpegError, OSError, ValueError) as e:
            raise MediaError("encode_failed", f"cannot encode the audio of {self._path}: {e}") from e
