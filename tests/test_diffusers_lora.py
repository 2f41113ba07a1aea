"""Distilled LoRAs on the tiny Wan VACE pipeline (CPU, no network): a tiny LoRA built offline with
PEFT and saved in the diffusers LoRA format (tests/tiny_wan.py), chosen by a model folder's
``shotforge.json`` or by a request, loaded with ``load_lora_weights``, its steps, guidance and shift
applied. Both model folders hold the same base weights (the same seed), so any difference in the
frames is the LoRA's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the diffusers engine needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")
pytest.importorskip("peft", reason="LoRAs need peft: pip install peft")

from otio_tools import RequestError  # noqa: E402
from server.engines.diffusers import DiffusersEngine, check_options, warm  # noqa: E402
from server.engines.diffusers.models import inspect_pipeline  # noqa: E402
from tests.tiny_ltx import save_tiny_two_expert_vace  # noqa: E402
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    TINY_NATIVE, job_at, one_torch_thread, save_tiny_lora, save_tiny_pipeline, settings_for)

LORA = {"path": "lightx2v.safetensors", "weight": 1.0, "steps": 1, "guidance": 1.0, "flow_shift": 5.0}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """plain: no LoRA; distilled: the same weights with a LoRA and its settings in its folder; on and off:
    that LoRA at weight 1 and 0 with none of its settings; loras/fast: a LoRA a request can name, with
    its settings beside it."""
    root = tmp_path_factory.mktemp("models")
    save_tiny_pipeline(root / "plain")
    path = LORA["path"]
    for name, lora in (("distilled", LORA), ("on", {"path": path}), ("off", {"path": path, "weight": 0})):
        shutil.copytree(root / "plain", root / name)
        save_tiny_lora(root / name / "lightx2v.safetensors")
        (root / name / "shotforge.json").write_text(json.dumps({**TINY_NATIVE, "lora": lora}))
    save_tiny_lora(root / "loras" / "fast.safetensors", seed=2)
    (root / "loras" / "fast.json").write_text(json.dumps({"steps": 1, "flow_shift": 4.0}))
    return root


@pytest.fixture
def calls(monkeypatch):
    from diffusers import WanVACEPipeline

    seen, original = [], WanVACEPipeline.__call__

    def spy(self, *args, **kwargs):
        seen.append({**kwargs, "shift": self.scheduler.config.shift})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WanVACEPipeline, "__call__", spy)
    return seen


def generate(models: Path, model: str, **options) -> list[np.ndarray]:
    engine = DiffusersEngine(operation="generate", model=model, settings=settings_for(models))
    return list(engine.generate(5, (48, 32), job_at(8, seed=3, options=options)))


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_model_folders_lora_changes_the_frames_and_weight_0_does_not(models):
    plain = generate(models, "plain", steps=2, guidance=1.0)
    assert not same(generate(models, "on", steps=2, guidance=1.0), plain)
    assert same(generate(models, "off", steps=2, guidance=1.0), plain)


def test_the_loras_steps_guidance_and_shift_are_the_defaults(models, calls):
    info = inspect_pipeline(models / "distilled", "distilled", "models folder")
    assert (info.native.steps, info.native.guidance, info.native.flow_shift) == (1, 1.0, 5.0)
    assert info.lora.path == (models / "distilled" / "lightx2v.safetensors").resolve()
    engine = DiffusersEngine(operation="generate", model="distilled", settings=settings_for(models))
    # what a take's recipe would name: the folder's LoRA and its settings, or a request's own
    assert engine.job_settings({}).recipe() == {"steps": 1, "guidance": 1.0, "guidance_2": None,
                                                "lora": "lightx2v (weight 1)"}
    assert engine.job_settings({"lora": {"name": "fast", "weight": 0.5}}).recipe()["lora"] == "fast (weight 0.5)"
    assert engine.job_settings({"lora": "none"}).recipe() == {"steps": TINY_NATIVE["steps"], "guidance": 1.0,
                                                              "guidance_2": None, "lora": None}
    list(engine.generate(5, (48, 32), job_at(8)))
    assert (calls[-1]["num_inference_steps"], calls[-1]["guidance_scale"], calls[-1]["shift"]) == (1, 1.0, 5.0)
    list(engine.generate(5, (48, 32), job_at(8, options={"steps": 2})))  # a request's own steps still win
    assert calls[-1]["num_inference_steps"] == 2
    line = DiffusersEngine(settings=settings_for(models)).availability().details["models"]["distilled"]
    assert "LoRA lightx2v (weight 1)" in line


def test_a_request_names_a_lora_from_the_loras_folder(models, calls):
    plain = generate(models, "plain", steps=2, guidance=1.0)
    # on the schedule the plain model runs (its shift for 48x32 is 3.0): the LoRA at weight 1 and 0
    named = generate(models, "plain", steps=2, guidance=1.0, lora={"name": "fast", "flow_shift": 3})
    assert not same(named, plain)
    assert same(generate(models, "plain", steps=2, guidance=1.0, lora={"name": "fast", "weight": 0, "flow_shift": 3}),
                plain)
    # its settings (loras/fast.json) are the defaults
    generate(models, "plain", lora="fast")
    assert (calls[-1]["num_inference_steps"], calls[-1]["shift"]) == (1, 4.0)
    # "none": the model folder's LoRA off, and its settings with it
    assert same(generate(models, "distilled", steps=2, guidance=1.0, lora="none"), plain)
    generate(models, "distilled", lora="none")
    assert calls[-1]["num_inference_steps"] == TINY_NATIVE["steps"]
    # switching back and forth on one warm pipeline gives the same frames each time
    assert same(generate(models, "plain", steps=2, guidance=1.0, lora={"name": "fast", "flow_shift": 3}), named)


def test_bad_loras_are_refused_with_the_reason(models, tmp_path):
    for lora, message in (("../plain/lightx2v", "must be a name in the models folder's loras/, not a path"),
                          ("nope", r"no LoRA 'nope' in .*loras \(found: fast\)")):
        with pytest.raises(RequestError, match=message):
            generate(models, "plain", lora=lora)
    with pytest.raises(RequestError, match="lora.weight must be a number"):
        check_options({"lora": {"name": "fast", "weight": "lots"}})
    with pytest.raises(RequestError, match="must be a LoRA name"):
        check_options({"lora": 3})
    check_options({"lora": {"name": "fast", "weight": 0.5, "steps": 4}})
    shutil.copytree(models / "plain", tmp_path / "pickled")
    (tmp_path / "pickled" / "lora.bin").write_bytes(b"not looked at")
    (tmp_path / "pickled" / "shotforge.json").write_text(json.dumps({**TINY_NATIVE, "lora": {"path": "lora.bin"}}))
    problems = inspect_pipeline(tmp_path / "pickled", "pickled", "models folder").problems
    assert any("lora.bin is not a .safetensors file" in p for p in problems), problems
    gone = {**TINY_NATIVE, "lora": {"path": "gone.safetensors"}}
    (tmp_path / "pickled" / "shotforge.json").write_text(json.dumps(gone))
    problems = inspect_pipeline(tmp_path / "pickled", "pickled", "models folder").problems
    assert any("no LoRA file" in p and "gone.safetensors" in p for p in problems), problems


def test_a_two_expert_model_gets_the_lora_in_both_experts(tmp_path):
    save_tiny_two_expert_vace(tmp_path / "two")
    save_tiny_lora(tmp_path / "two" / "high.safetensors", seed=4)
    save_tiny_lora(tmp_path / "two" / "low.safetensors", seed=5)
    (tmp_path / "two" / "shotforge.json").write_text(json.dumps(
        {**TINY_NATIVE, "lora": {"path": "high.safetensors", "path_2": "low.safetensors", "steps": 2}}))
    engine = DiffusersEngine(operation="generate", model="two", settings=settings_for(tmp_path))
    assert len(list(engine.generate(5, (48, 32), job_at(8)))) == 5
    loaded = warm.get_pipeline(engine.info, engine.plan, False)
    (name,) = loaded.pipe.transformer.peft_config
    assert list(loaded.pipe.transformer_2.peft_config) == [name]
    high = dict(loaded.pipe.transformer.named_parameters())
    low = dict(loaded.pipe.transformer_2.named_parameters())
    key = next(k for k in high if "lora_B" in k)
    assert not torch.equal(high[key], low[key])  # each expert its own LoRA
    warm.drop_pipelines()
