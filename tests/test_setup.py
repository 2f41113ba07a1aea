"""The setup scripts: which torch build scripts/install_torch.py picks (GPU detection on faked
driver files and a faked nvidia-smi, the CPU index probed on a local HTTP server), that it keeps a
fitting torch and replaces a wrong one (a fake Python stands in for pip), and that the package
metadata builds without deprecation warnings. No network, no real pip."""

from __future__ import annotations

import http.server
import importlib.util
import json
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("install_torch", ROOT / "scripts" / "install_torch.py")
install_torch = importlib.util.module_from_spec(SPEC)
sys.modules["install_torch"] = install_torch  # dataclasses look their module up there
SPEC.loader.exec_module(install_torch)
TORCH = install_torch.TORCH

H200_INFO = """Model: \t\t NVIDIA H200
IRQ:   \t\t 34
GPU UUID: \t GPU-5b7c2a5e-0000-0000-0000-000000000000
Video BIOS: \t 96.00.99.00.01
Bus Type: \t PCIe
"""


def no_network():
    raise AssertionError("the CPU wheel index was asked although the choice did not need it")


def fake_smi(tmp_path: Path, output: str, code: int = 0) -> str:
    smi = tmp_path / "nvidia-smi"
    # Shell builtins only: the tests run it with a PATH that holds nothing else.
    smi.write_text(f"#!/bin/sh\n[ \"$1\" = -L ] || exit 64\n"
                   f"while IFS= read -r line; do echo \"$line\"; done <<'EOF'\n{output}\nEOF\nexit {code}\n")
    smi.chmod(0o755)
    return str(smi)


@pytest.fixture
def no_driver(tmp_path, monkeypatch):
    """A machine with no nvidia-smi anywhere and no /proc/driver/nvidia."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(install_torch, "NVIDIA_SMI_ELSEWHERE", ())
    return tmp_path / "proc-driver-nvidia-gpus"


def test_gpus_from_the_driver_files(tmp_path, no_driver):
    for bus, model in (("0000:19:00.0", H200_INFO), ("0000:3b:00.0", H200_INFO.replace("H200", "L40S"))):
        (no_driver / bus).mkdir(parents=True)
        (no_driver / bus / "information").write_text(model)
    assert install_torch.nvidia_gpus(no_driver) == ["NVIDIA H200", "NVIDIA L40S"]


def test_gpus_from_nvidia_smi(tmp_path, no_driver):
    smi = fake_smi(tmp_path, "GPU 0: NVIDIA H200 (UUID: GPU-5b7c2a5e-0000-0000-0000-000000000000)\n"
                             "GPU 1: NVIDIA GeForce RTX 4090 (UUID: GPU-1f3e0000-0000-0000-0000-000000000000)")
    assert install_torch.nvidia_gpus(no_driver, smi) == ["NVIDIA H200", "NVIDIA GeForce RTX 4090"]


def test_nvidia_smi_on_the_path_is_found(tmp_path, no_driver, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_smi(bin_dir, "GPU 0: Tesla T4 (UUID: GPU-00000000-0000-0000-0000-000000000000)")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert install_torch.nvidia_gpus(no_driver) == ["Tesla T4"]


def test_no_gpu_when_nvidia_smi_fails_or_is_absent(tmp_path, no_driver):
    # What nvidia-smi says in a container or VM whose driver is not loaded.
    smi = fake_smi(tmp_path, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                             "Make sure that the latest NVIDIA driver is installed and running.", code=9)
    assert install_torch.nvidia_gpus(no_driver, smi) == []
    assert install_torch.nvidia_gpus(no_driver) == []
    no_driver.mkdir()  # /proc/driver/nvidia/gpus present but empty: no GPU
    assert install_torch.nvidia_gpus(no_driver) == []


def test_gpu_machine_gets_pypis_cuda_build_without_asking_the_cpu_index():
    choice = install_torch.choose(["NVIDIA H200"], "Linux", cpu_index_answers=no_network)
    assert (choice.build, choice.index, choice.exact) == ("cuda", None, True)
    assert "NVIDIA H200" in choice.why
    # The requirement refuses a "+cpu" wheel sitting in a local wheelhouse and takes PyPI's build.
    spec = SpecifierSet(choice.requirement.removeprefix("torch"))
    assert spec.contains(Version(TORCH)) and not spec.contains(Version(TORCH + "+cpu"))


def test_cpu_machine_gets_the_cpu_index_when_it_answers():
    choice = install_torch.choose([], "Linux", cpu_index_answers=lambda: True)
    assert (choice.build, choice.index, choice.exact) == ("cpu", install_torch.CPU_INDEX, True)
    assert choice.requirement == f"torch=={TORCH}+cpu"


def test_cpu_machine_without_the_cpu_index_leaves_it_to_pips_own_indexes():
    choice = install_torch.choose([], "Linux", cpu_index_answers=lambda: False)
    assert (choice.build, choice.index, choice.exact) == ("cpu", None, False)
    # A plain pin: a CPU wheel on the machine (pip's find-links) satisfies it.
    assert SpecifierSet(choice.requirement.removeprefix("torch")).contains(Version(TORCH + "+cpu"))
    assert "does not answer" in choice.why


def test_macos_and_overrides():
    mac = install_torch.choose([], "Darwin", cpu_index_answers=no_network)
    assert (mac.build, mac.index, mac.requirement) == ("cpu", None, f"torch=={TORCH}")
    forced = install_torch.choose([], "Linux", forced="cuda", cpu_index_answers=no_network)
    assert forced.build == "cuda" and "SHOTFORGE_TORCH=cuda" in forced.why
    cpu_on_gpu = install_torch.choose(["NVIDIA H200"], "Linux", forced="cpu", cpu_index_answers=lambda: True)
    assert (cpu_on_gpu.build, cpu_on_gpu.index) == ("cpu", install_torch.CPU_INDEX)
    mirror = install_torch.choose([], "Linux", index="https://mirror.example/whl/cpu", cpu_index_answers=no_network)
    assert (mirror.index, mirror.requirement, mirror.exact) == ("https://mirror.example/whl/cpu", f"torch=={TORCH}", True)
    with pytest.raises(ValueError, match="SHOTFORGE_TORCH='gpu'"):
        install_torch.choose([], "Linux", forced="gpu")
    with pytest.raises(ValueError, match="no CUDA build of torch for macOS"):
        install_torch.choose([], "Darwin", forced="cuda")


class _Index(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_index_probe_on_a_local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert install_torch.index_answers(base + "/whl/cpu")
        assert not install_torch.index_answers(base + "/whl/none")
    finally:
        server.shutdown()
        server.server_close()
    assert not install_torch.index_answers(base + "/whl/cpu", timeout=2)  # nothing listens now
    assert not install_torch.index_answers("not a url")


# A stand-in for the venv's Python: answers the torch probe from a state file and acts as pip,
# installing what `gives` says pip would resolve the requirement (and index) to.
FAKE_PYTHON = r'''#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).parent
state, log = here / "torch.json", here / "calls.log"
with open(log, "a") as fh:
    fh.write(" ".join(sys.argv[1:3] if sys.argv[1] == "-c" else sys.argv[1:]) + "\n")
if sys.argv[1] == "-c":
    if not state.exists():
        sys.exit("ModuleNotFoundError: No module named 'torch'")
    have = json.loads(state.read_text())
    print(have["version"]); print(have["cuda"] or "")
elif sys.argv[1:4] == ["-m", "pip", "uninstall"]:
    state.unlink()
elif sys.argv[1:4] == ["-m", "pip", "install"]:
    args = sys.argv[4:]
    index = args[args.index("--index-url") + 1] if "--index-url" in args else ""
    gives = json.loads((here / "gives.json").read_text())
    state.write_text(json.dumps(gives[index]))
'''


@pytest.fixture
def fake_python(tmp_path):
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON.replace("{python}", sys.executable))
    python.chmod(0o755)

    def setup(have, gives):
        if have:
            (tmp_path / "torch.json").write_text(json.dumps(have))
        (tmp_path / "gives.json").write_text(json.dumps(gives))
        return str(python)

    def calls():
        log = tmp_path / "calls.log"
        return [line for line in log.read_text().splitlines() if not line.startswith("-c ")] if log.exists() else []

    return setup, calls


CPU = {"version": f"{TORCH}+cpu", "cuda": None}
CUDA = {"version": TORCH, "cuda": "12.8"}


def test_a_fitting_torch_is_kept(fake_python):
    setup, calls = fake_python
    python = setup(CPU, {})
    choice = install_torch.choose([], "Linux", cpu_index_answers=lambda: True)
    line = install_torch.install(choice, python)
    assert calls() == []
    assert line.startswith(f"torch {TORCH}+cpu: the CPU build, already installed (no NVIDIA GPU found")


def test_a_cpu_build_on_a_gpu_machine_is_replaced_by_the_cuda_build(fake_python):
    setup, calls = fake_python
    python = setup(CPU, {"": CUDA})
    line = install_torch.install(install_torch.choose(["NVIDIA H200"], "Linux", cpu_index_answers=no_network), python)
    assert calls() == ["-m pip uninstall --quiet --yes torch", f"-m pip install --quiet torch==={TORCH}"]
    assert line.startswith(f"torch {TORCH}: the CUDA 12.8 build, installed (NVIDIA GPU found: NVIDIA H200")
    assert "NOTE" not in line


def test_fresh_cpu_install_from_the_cpu_index(fake_python):
    setup, calls = fake_python
    python = setup(None, {install_torch.CPU_INDEX: CPU})
    line = install_torch.install(install_torch.choose([], "Linux", cpu_index_answers=lambda: True), python)
    assert calls() == [f"-m pip install --quiet torch=={TORCH}+cpu --index-url {install_torch.CPU_INDEX}"]
    assert "the CPU build, installed" in line and "NOTE" not in line


def test_pips_own_index_giving_the_cuda_build_on_a_cpu_machine_is_said(fake_python):
    setup, calls = fake_python
    python = setup(None, {"": CUDA})
    choice = install_torch.choose([], "Linux", cpu_index_answers=lambda: False)
    line = install_torch.install(choice, python)
    assert calls() == [f"-m pip install --quiet torch=={TORCH}"]
    assert "the CUDA 12.8 build, installed" in line
    assert "NOTE: the CPU build was wanted" in line and install_torch.CPU_INDEX in line
    # Run again: the same torch is kept (nothing to gain from pip's indexes), and still said.
    again = install_torch.install(choice, python)
    assert calls() == [f"-m pip install --quiet torch=={TORCH}"]
    assert "already installed" in again and "NOTE: the CPU build was wanted" in again


def test_install_says_when_the_cuda_build_was_not_given(fake_python):
    setup, _ = fake_python
    python = setup(None, {"https://mirror.example/cu128": CPU})
    choice = install_torch.choose(["NVIDIA H200"], "Linux", index="https://mirror.example/cu128")
    line = install_torch.install(choice, python)
    assert "NOTE: the CUDA build was wanted but this is the CPU build" in line


def test_dry_run_prints_the_choice_and_installs_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOTFORGE_TORCH", "cuda")
    monkeypatch.delenv("SHOTFORGE_TORCH_INDEX", raising=False)
    monkeypatch.setattr(install_torch, "install", lambda *a: pytest.fail("--dry-run installed something"))
    assert install_torch.main(["--dry-run"]) == 0
    assert capsys.readouterr().out == (f"torch: the CUDA build (torch==={TORCH} from pip's own indexes): "
                                       "SHOTFORGE_TORCH=cuda; PyPI's Linux wheel\n")
    monkeypatch.setenv("SHOTFORGE_TORCH", "rocm")
    assert install_torch.main(["--dry-run"]) == 2
    assert "SHOTFORGE_TORCH='rocm'" in capsys.readouterr().err


def test_setup_refuses_an_unknown_option_before_touching_anything(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "--gpu"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "usage: scripts/setup.sh [--diffusers]" in proc.stderr


def test_package_metadata_builds_without_deprecation_warnings():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    # What the build backend does with pyproject.toml, with every warning an error.
    code = ("from setuptools.dist import Distribution\n"
            "from setuptools.config.pyprojecttoml import apply_configuration\n"
            "d = apply_configuration(Distribution(), 'pyproject.toml')\n"
            "print(d.metadata.license_expression)\n")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "Apache-2.0"
    required = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert required and not SpecifierSet(required[0].removeprefix("setuptools")).contains("76.1")
