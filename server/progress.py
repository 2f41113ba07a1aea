"""A progress bar for long CLI work: fractions 0..1 and a stage name in, a tqdm bar out."""

from __future__ import annotations

from tqdm import tqdm


class ProgressBar:
    def __init__(self, description: str):
        self._bar = tqdm(total=1000, desc=description, unit="‰", leave=True,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")

    def update(self, fraction: float, stage: str) -> None:
        target = round(fraction * 1000)
        if target > self._bar.n:
            self._bar.update(target - self._bar.n)
        self._bar.set_postfix_str(stage, refresh=False)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()
