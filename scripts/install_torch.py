"""Install the torch build that fits this machine, and say which one it chose and why.

Run by ``scripts/setup.sh --diffusers`` with the virtual environment's Python (standard library
only, so it runs before anything else is installed):

- an NVIDIA GPU (``/proc/driver/nvidia/gpus`` or ``nvidia-smi -L`` lists one): the CUDA build,
  as PyPI serves it for Linux;
- no NVIDIA GPU: the CPU build from PyTorch's CPU wheel index when that index answers; else
  ``torch==TORCH`` from pip's own indexes, which take a CPU wheel where one is on the machine
  (a wheelhouse in pip's ``find-links``) and otherwise PyPI's CUDA build, which runs on the
  CPU too, only larger (said so, with what to do about it);
- macOS: PyPI's build (CPU, and Metal on Apple silicon; there is no CUDA build).

``SHOTFORGE_TORCH=cpu|cuda`` overrides the detection (a machine preparing a venv for another);
``SHOTFORGE_TORCH_INDEX=URL`` installs torch from that index (a mirror, or a CUDA build for an
older driver, e.g. PyTorch's ``cu126`` index). ``--dry-run`` prints the choice and installs
nothing. A torch of the pinned version and the chosen build that is already installed is kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

#: The torch release the diffusers engine is verified with (pyproject's ``diffusers`` extra).
TORCH = "2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROC_GPUS = Path("/proc/driver/nvidia/gpus")
#: WSL2 puts the Windows driver's nvidia-smi here, often not on the PATH.
NVIDIA_SMI_ELSEWHERE = ("/usr/lib/wsl/lib/nvidia-smi",)
BUILD_NAMES = {"cpu": "the CPU build", "cuda": "the CUDA build"}


def nvidia_gpus(proc_gpus: Path = PROC_GPUS, nvidia_smi: str | None = None) -> list[str]:
    """The names of the NVIDIA GPUs the driver shows: from ``proc_gpus/*/information``, else from
    ``nvidia-smi -L``. Empty when there is no GPU, no driver, or an ``nvidia-smi`` that fails
    (as it does when the driver is not loaded)."""
    names = []
    if proc_gpus.is_dir():
        for info in sorted(proc_gpus.glob("*/information")):
            try:
                text = info.read_text(errors="replace")
            except OSError:
                continue
            model = re.search(r"^Model:\s*(.+?)\s*$", text, re.M)
            names.append(model.group(1) if model else info.parent.name)
    if names:
        return names
    smi = nvidia_smi or shutil.which("nvidia-smi") or next(
        (p for p in NVIDIA_SMI_ELSEWHERE if os.access(p, os.X_OK)), None)
    if not smi:
        return []
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if listed.returncode != 0:
        return []
    return [m.group(1) for m in re.finditer(r"^GPU \d+: (.+?)(?: \(UUID: [^)]*\))?\s*$", listed.stdout, re.M)]


def index_answers(url: str, timeout: float = 5.0) -> bool:
    """Whether ``url``'s torch page answers (proxies from the environment are honoured)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url.rstrip("/") + "/torch/", method="HEAD"),
                                    timeout=timeout) as answer:
            return answer.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass(frozen=True)
class Choice:
    build: str            # "cpu" or "cuda": the build wanted
    requirement: str      # what pip is asked for
    index: str | None     # the index torch comes from; None: pip's own configuration
    why: str              # the reason, said to the user
    exact: bool           # True: the source serves only the wanted build (a mismatch is replaced)


def choose(gpus: list[str], system: str, forced: str | None = None, index: str | None = None,
           cpu_index_answers=lambda: index_answers(CPU_INDEX)) -> Choice:
    """Which build to install and from where. ``cpu_index_answers`` is only called when a
    CPU build is wanted from the CPU index, so a GPU machine never waits on the network."""
    if forced not in (None, "", "cpu", "cuda"):
        raise ValueError(f"SHOTFORGE_TORCH={forced!r}: use 'cpu' or 'cuda' (or leave it unset to detect)")
    if forced:
        build, why = forced, f"SHOTFORGE_TORCH={forced}"
    elif system == "Darwin":
        build, why = "cpu", "macOS (PyPI's build: CPU, and Metal on Apple silicon)"
    elif gpus:
        build, why = "cuda", "NVIDIA GPU found: " + ", ".join(gpus)
    else:
        build, why = "cpu", "no NVIDIA GPU found"
    if index:
        return Choice(build, f"torch=={TORCH}", index, f"{why}; from SHOTFORGE_TORCH_INDEX={index}", True)
    if build == "cuda":
        if system == "Darwin":
            raise ValueError("there is no CUDA build of torch for macOS")
        # `===` matches the plain version only: a "+cpu" wheel in a local wheelhouse is not taken.
        return Choice("cuda", f"torch==={TORCH}", None, f"{why}; PyPI's Linux wheel", True)
    if system == "Darwin":
        return Choice("cpu", f"torch=={TORCH}", None, why, True)
    if cpu_index_answers():
        return Choice("cpu", f"torch=={TORCH}+cpu", CPU_INDEX, f"{why}; from the CPU wheel index", True)
    return Choice("cpu", f"torch=={TORCH}", None,
                  f"{why}; the CPU wheel index ({CPU_INDEX}) does not answer, so pip's own indexes choose", False)


def installed_torch(python: str) -> tuple[str, str | None] | None:
    """(version, CUDA version or None) of the torch ``python`` imports, or None without one."""
    probe = subprocess.run([python, "-c", "import torch; print(torch.__version__); print(torch.version.cuda or '')"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    lines = probe.stdout.splitlines() + ["", ""]
    return lines[0].strip(), lines[1].strip() or None


def build_of(cuda: str | None) -> str:
    return "cuda" if cuda else "cpu"


def install(choice: Choice, python: str = sys.executable) -> str:
    """Install per ``choice`` (keeping a torch of the pinned release that fits it) and return
    what is installed, with a note when pip gave another build than the one wanted."""
    have = installed_torch(python)
    same_release = have is not None and have[0].split("+")[0] == TORCH
    if same_release and (build_of(have[1]) == choice.build or not choice.exact):
        return report(have, choice, "already installed")
    if have is not None and choice.exact:  # another build or release: the chosen source replaces it
        subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "torch"], check=True)
    command = [python, "-m", "pip", "install", "--quiet", choice.requirement]
    if choice.index:
        command += ["--index-url", choice.index]
    subprocess.run(command, check=True)
    have = installed_torch(python)
    if have is None:
        raise SystemExit(f"torch was installed but does not import with {python}")
    return report(have, choice, "installed")


def report(have: tuple[str, str | None], choice: Choice, done: str) -> str:
    version, cuda = have
    line = f"torch {version}: " + (f"the CUDA {cuda} build" if cuda else "the CPU build") + f", {done} ({choice.why})"
    if build_of(cuda) == choice.build:
        return line
    if cuda:
        return (line + "\nNOTE: the CPU build was wanted but this is the CUDA build, which runs on the CPU too, "
                f"only larger. For the CPU build let pip reach {CPU_INDEX} (or set SHOTFORGE_TORCH_INDEX to a "
                "mirror of it) and run the setup again.")
    return (line + "\nNOTE: the CUDA build was wanted but this is the CPU build: the diffusers engine will use the "
            "CPU only. Set SHOTFORGE_TORCH_INDEX to a CUDA wheel index (PyTorch's cu128, for one) and run the setup "
            "again.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the choice, install nothing")
    args = parser.parse_args(argv)
    try:
        choice = choose(nvidia_gpus(), platform.system(), os.environ.get("SHOTFORGE_TORCH"),
                        os.environ.get("SHOTFORGE_TORCH_INDEX") or None)
    except ValueError as exc:
        print(f"setup: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        where = choice.index or "pip's own indexes"
        print(f"torch: {BUILD_NAMES[choice.build]} ({choice.requirement} from {where}): {choice.why}")
        return 0
    print(install(choice))
    return 0


if __name__ == "__main__":
    sys.exit(main())
