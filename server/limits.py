"""Bounds that fit the machine: what one job may ask for, checked before it is queued and again
before it starts.

* **Request bounds** (cheap, at submit): prompt length (``max_prompt_chars``), frames made
  (``max_frames``), the widest or tallest picture (``max_canvas_side``).
* **Resources** (from :func:`server.render.estimate_job`, a planned job's expected peak memory
  and output size): memory against ``max_job_memory_gb`` (default half the machine's memory),
  and the output folder's free space (``shutil.disk_usage``) less the job's media against
  ``min_free_disk_gb``. Checked at submit and again when a worker picks the job up (other jobs
  may have filled the disk meanwhile); a job refused at start fails with the same code.

Each refusal names the figure and the setting that would allow it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otio_tools.errors import RequestError


def gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


@dataclass(frozen=True)
class Limits:
    max_frames: int = 7200
    max_canvas_side: int = 4096
    max_prompt_chars: int = 4000
    max_job_memory: int | None = None  # bytes; None: not checked
    min_free_disk: int = 0  # bytes

    @classmethod
    def from_settings(cls, settings: Any) -> "Limits":
        return cls(settings.max_frames, settings.max_canvas_side, settings.max_prompt_chars,
                   settings.job_memory_limit, int(settings.min_free_disk_gb * 1e9))

    def check_request(self, request: Any) -> None:
        """The prompt texts, before anything is planned."""
        for name in ("prompt", "negative_prompt"):
            text = getattr(request, name, "") or ""
            if len(text) > self.max_prompt_chars:
                raise RequestError("too_large", f"metadata.shotforge.{name} is {len(text)} characters; the server "
                                                f"allows {self.max_prompt_chars} (setting max_prompt_chars)")

    def check_plan(self, request: Any, frames: int | None, size: tuple[int, int] | None) -> None:
        """Frames made and picture size of a planned job."""
        if size and max(size) > self.max_canvas_side:
            what = "canvas" if request.operation == "outpaint" else "picture"
            raise RequestError("too_large", f"the {request.operation} {what} is {size[0]}x{size[1]}; the server "
                                            f"allows {self.max_canvas_side} pixels a side (setting max_canvas_side)")
        if frames is not None and frames > self.max_frames:
            raise RequestError("too_large", f"the job would make {frames} frames; the server allows at most "
                                            f"{self.max_frames} per job (setting max_frames)")

    def check_resources(self, estimate: Any, output: Path) -> None:
        """An estimate (:class:`server.render.JobEstimate`) against memory and the output folder's free disk."""
        if self.max_job_memory is not None and estimate.memory > self.max_job_memory:
            raise RequestError("not_enough_memory", f"this {estimate.operation} needs about {gb(estimate.memory)} "
                                                    f"of memory ({estimate.shape}); the server allows "
                                                    f"{gb(self.max_job_memory)} (setting max_job_memory_gb)")
        folder = Path(output)
        while not folder.exists() and folder.parent != folder:  # a job folder not made yet: its volume
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if free - estimate.disk < self.min_free_disk:
            raise RequestError("not_enough_disk", f"this {estimate.operation} writes about {gb(estimate.disk)} "
                                                  f"({estimate.shape}); {folder} has {gb(free)} free and the server "
                                                  f"keeps {gb(self.min_free_disk)} free (setting min_free_disk_gb)")
