"""The diffusers engine's fast path and fallbacks on tiny models (CPU, no network).

The step cache must leave the frames of a VACE model as they are; compile happens at load with
progress and falls back to eager mode; window lengths are bucketed so a compiled pipeline does not
recompile; attention backends accepted at set-up but failing at run time, and running out of
memory, cost a retry and say so, not the job.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the diffusers engine needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")

from server.engines.base import Canceled  # noqa: E402
from server.engines.diffusers import EngineFailed, fast, warm  # noqa: E402
from server.engines.diffusers.families import conditioner_for  # noqa: E402
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    TINY_NATIVE, engine_for, job_at, one_torch_thread, save_tiny_pipeline, tiny_transformer)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_tiny_pipeline(root / "tiny-vace", native={**TINY_NATIVE, "max_frames": 33})  # buckets 9, 17, 33
    return root


@pytest.fixture(autouse=True)
def fresh_pipelines():
    warm.drop_pipelines()
    yield
    warm.drop_pipelines()


def vace_inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(1, 16, 3, 4, 6, generator=g), timestep=torch.tensor([500]),
                encoder_hidden_states=torch.randn(1, 8, 32, generator=g),
                control_hidden_states=torch.randn(1, 96, 3, 4, 6, generator=g), return_dict=False)


def twice_through_the_cache(enable) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The uncached output for one input, and the output of two cached calls on that same input, made
    the way the pipeline makes them (inside the transformer's cache context)."""
    transformer = tiny_transformer(seed=3)
    inputs = vace_inputs(1)
    with torch.no_grad():
        plain = transformer(**inputs)[0]
        enable(transformer)
        with transformer.cache_context("cond"):
            cached = [transformer(**inputs)[0] for _ in range(2)]
    return plain, cached


def test_the_step_cache_leaves_vace_output_as_it_is():
    caches = []

    def engine_cache(transformer):
        caches.append(conditioner_for("wan-vace").step_cache(fast.CACHE_THRESHOLD).apply(transformer))

    plain, (first, second) = twice_through_the_cache(engine_cache)
    assert (caches[0].misses, caches[0].hits) == (1, 1)  # the second call was served by the cache
    assert torch.allclose(first, plain, atol=1e-5) and torch.allclose(second, plain, atol=1e-5), \
        (first - plain).abs().max()
    # a different input is computed, and exactly
    transformer = tiny_transformer(seed=3)
    with torch.no_grad():
        cache = conditioner_for("wan-vace").step_cache(fast.CACHE_THRESHOLD).apply(transformer)
        transformer(**vace_inputs(1))
        other = transformer(**vace_inputs(2))[0]
        cache.remove()
        assert cache.misses == 2 and torch.equal(other, transformer(**vace_inputs(2))[0])
    assert "forward" not in transformer.__dict__ and "forward" not in transformer.blocks[0].__dict__


def test_the_step_cache_under_torch_compile_stays_right_and_compiles_once():
    """Real dynamo (the eager backend: no C++ compiler needed): hits and misses give the uncompiled
    frames, and after the first call nothing more is compiled (dynamic=False, one window shape)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    transformer = tiny_transformer(seed=3)
    first, second = vace_inputs(1), vace_inputs(2)
    with torch.no_grad():
        plain = [transformer(**first)[0], transformer(**second)[0]]
        cache = conditioner_for("wan-vace").step_cache(fast.CACHE_THRESHOLD).apply(transformer)
        transformer.compile_repeated_blocks(fullgraph=False, dynamic=False, backend="eager")
        try:
            made = [transformer(**first)[0]]
            graphs = counters["stats"]["unique_graphs"]
            made += [transformer(**first)[0], transformer(**first)[0], transformer(**second)[0]]
        finally:
            fast.uncompile_blocks(transformer)
            torch._dynamo.reset()
    assert (cache.misses, cache.hits) == (2, 2)
    assert graphs > 0 and counters["stats"]["unique_graphs"] == graphs  # hits and misses recompile nothing
    for out, want in zip(made, [plain[0]] * 3 + [plain[1]]):
        assert torch.allclose(out, want, atol=1e-5), (out - want).abs().max()


def test_diffusers_first_block_cache_counts_vace_hints_twice():
    """Why the engine has its own cache for VACE (issue 14): diffusers' FirstBlockCache hooks the blocks
    only, and the hints added between them in the model's forward come again on a hit. If this starts
    failing, diffusers fixed it and its cache could serve VACE."""
    from diffusers.hooks import FirstBlockCacheConfig

    plain, (first, second) = twice_through_the_cache(lambda t: t.enable_cache(FirstBlockCacheConfig(threshold=0.05)))
    assert torch.allclose(first, plain, atol=1e-5)
    assert (second - plain).abs().max() > 0.2 * plain.abs().mean()


def stages_of(job) -> list[str]:
    seen = []
    job.on_progress = lambda fraction, stage: seen.append(stage) if not seen or seen[-1] != stage else None
    return seen


@pytest.fixture
def on_cpu_as_on_a_gpu(monkeypatch):
    """Let the fast path try attention backends and compile on the CPU, as it does on a GPU."""
    monkeypatch.setattr(fast, "ACCELERATED", ("cuda", "cpu"))


def fake_compile(shapes: set, fail=lambda shape: False, slow: threading.Event | None = None):
    """Stands in for compile_repeated_blocks the way torch does it (each block's ``_compiled_call_impl``):
    records each window shape a compiled block is given (dynamic=False compiles once per shape);
    ``slow``: compiling takes until that event is set."""
    def compile_blocks(transformer):
        for block in (*transformer.blocks, *transformer.vace_blocks):
            def compiled(*args, _eager=block._call_impl, **kwargs):
                shape = tuple(args[0].shape)
                if slow is not None and shape not in shapes:
                    slow.wait(10)
                if fail(shape):
                    raise RuntimeError(f"inductor: compiling for {shape} failed\n(a long backtrace)")
                shapes.add(shape)
                return _eager(*args, **kwargs)
            block._compiled_call_impl = compiled
    return compile_blocks


def test_compile_happens_at_load_with_progress_and_buckets_keep_one_shape(models, on_cpu_as_on_a_gpu, monkeypatch):
    shapes: set = set()
    monkeypatch.setattr(fast, "EXACT_BACKENDS", ())
    monkeypatch.setattr(fast, "compile_blocks", fake_compile(shapes))
    engine = engine_for(models, "generate", diffusers_fast=True)
    job = job_at(8)
    seen = stages_of(job)
    assert len(list(engine.generate(10, (48, 32), job))) == 10
    compiling = [i for i, s in enumerate(seen) if "compiling the transformer for 33 frames at 48x32" in s]
    steps = [i for i, s in enumerate(seen) if "step" in s]
    assert compiling and steps and compiling[0] < steps[0], seen  # at load, before the job's first step
    loaded = warm.get_pipeline(engine.info, engine.plan, True)
    assert loaded.fast.compiled and loaded.fast.buckets == [9, 17, 33]
    after_first = set(shapes)
    assert len(after_first) == 2  # the warm-up at 33 frames, then this job's bucket of 17 (10 frames -> 13 -> 17)
    assert any("window 1/1, compiling the transformer for 17 frames at 48x32" in s for s in seen), seen
    second = job_at(8)
    seen = stages_of(second)
    assert len(list(engine_for(models, "generate", diffusers_fast=True).generate(15, (48, 32), second))) == 15
    assert shapes == after_first  # 15 frames -> 17: the same bucket, nothing new to compile
    assert not any("compiling" in s for s in seen), seen


def test_a_compile_that_fails_at_load_leaves_an_eager_pipeline(models, on_cpu_as_on_a_gpu, monkeypatch):
    monkeypatch.setattr(fast, "EXACT_BACKENDS", ())
    monkeypatch.setattr(fast, "compile_blocks", fake_compile(set(), fail=lambda shape: True))
    for frames in (5, 9):  # the failure at load does not poison later jobs
        engine = engine_for(models, "generate", diffusers_fast=True)
        assert len(list(engine.generate(frames, (48, 32), job_at(8)))) == frames
    loaded = warm.get_pipeline(engine.info, engine.plan, True)
    assert not loaded.fast.compiled and loaded.fast.buckets is None
    assert "torch.compile off after RuntimeError" in loaded.fast.describe()
    assert all(getattr(b, "_compiled_call_impl", None) is None for b in loaded.pipe.transformer.blocks)


def test_a_compile_failing_inside_a_job_falls_back_and_says_so(models, on_cpu_as_on_a_gpu, monkeypatch):
    monkeypatch.setattr(fast, "EXACT_BACKENDS", ())
    warmup = (1, 9 * 2 * 3, 24)  # 33 frames -> 9 latent frames of 2x3 patches, 24 channels
    monkeypatch.setattr(fast, "compile_blocks", fake_compile(set(), fail=lambda shape: shape != warmup))
    job = job_at(8)
    seen = stages_of(job)
    assert len(list(engine_for(models, "generate", diffusers_fast=True).generate(5, (48, 32), job))) == 5
    assert any("torch.compile failed on window 1/1 (RuntimeError: inductor: compiling" in s and
               "running it again without it" in s for s in seen), seen


def test_an_attention_backend_failing_at_run_time_falls_back(models, on_cpu_as_on_a_gpu, monkeypatch):
    """cuDNN attention is accepted by diffusers on a CPU and fails when called: the kind of backend this is."""
    monkeypatch.setattr(fast, "compile_blocks", lambda transformer: (_ for _ in ()).throw(RuntimeError("no compiler")))
    job = job_at(8)
    seen = stages_of(job)
    engine = engine_for(models, "generate", diffusers_fast=True)
    out = list(engine.generate(5, (48, 32), job))
    assert len(out) == 5
    assert any("attention backend _native_cudnn failed on window 1/1 (RuntimeError:" in s for s in seen), seen
    loaded = warm.get_pipeline(engine.info, engine.plan, True)
    assert loaded.fast.attention == "native"  # and it stays off for later jobs
    again = list(engine_for(models, "generate", diffusers_fast=True).generate(5, (48, 32), job_at(8)))
    assert all(np.array_equal(a, b) for a, b in zip(out, again))


def test_approximate_attention_only_when_asked(monkeypatch):
    asked = []

    class Transformer:
        def set_attention_backend(self, name):
            asked.append(name)

    monkeypatch.setattr(fast.importlib.util, "find_spec", lambda name: object())  # as if everything were installed
    assert fast.choose_attention([Transformer()], "exact") == "flash" and asked == ["flash"]
    assert fast.choose_attention([Transformer()], "sage") == "sage"


def test_out_of_memory_retries_once_with_offloading_and_says_so(models):
    engine = engine_for(models, "generate")
    loaded = warm.get_pipeline(engine.info, engine.plan, False)
    transformer = loaded.pipe.transformer
    original, calls = transformer.forward, []

    def forward(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return original(*args, **kwargs)

    transformer.forward = forward
    job = job_at(8)
    seen = stages_of(job)
    assert len(list(engine.generate(5, (48, 32), job))) == 5
    assert any("out of memory on window 1/1; running it again with less on the GPU" in s for s in seen), seen
    assert loaded.plan.offload == "model"
    assert warm.get_pipeline(engine_for(models, "generate").info, loaded.plan, False) is loaded  # kept warm

    transformer.forward = lambda *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError("CUDA out of memory."))
    with pytest.raises(EngineFailed, match=r"^diffusers engine: tiny-vace, window 1/1: out of memory on cpu") as exc:
        list(engine_for(models, "generate").generate(5, (48, 32), job_at(8)))
    assert "\n" not in exc.value.message


def test_the_scheduler_shift_follows_the_picture(models):
    from server.engines.diffusers.families.wan_vace import flow_shift_for

    assert flow_shift_for(832, 480) == 3.0 and flow_shift_for(1280, 720) == 5.0
    between = [flow_shift_for(w, h) for w, h in ((832, 480), (960, 544), (1088, 608), (1280, 720))]
    assert between == sorted(between) and 3.0 < between[1] < between[2] < 5.0
    assert flow_shift_for(48, 32) == 3.0 and flow_shift_for(1920, 1088) == 5.0  # never beyond what is published
    engine = engine_for(models, "generate")
    list(engine.generate(5, (48, 32), job_at(8)))
    scheduler = warm.get_pipeline(engine.info, engine.plan, False).pipe.scheduler
    assert scheduler.config.shift == 3.0  # saved with 7.0: the engine set it for a picture under 480p


def test_offloading_steps_down_once_per_level():
    from server.engines.diffusers.devices import DevicePlan, more_offload

    plan = DevicePlan("cuda:0", "bfloat16", "none", False, "cuda:0 (a GPU), bfloat16, whole pipeline on the GPU")
    ladder = []
    while plan is not None:
        ladder.append((plan.offload, plan.vae_tiling))
        plan = more_offload(plan)
    assert ladder == [("none", False), ("model", True), ("group", True)]


def test_with_real_dynamo_a_warm_pipeline_compiles_once_per_bucket(models, on_cpu_as_on_a_gpu, monkeypatch):
    """The engine's compile at load with torch.compile itself (eager backend): the warm-up compiles the
    full window, a job compiles its bucket, and a second job of another length in that bucket adds
    no graph."""
    from torch._dynamo.utils import counters

    monkeypatch.setattr(fast, "EXACT_BACKENDS", ())
    monkeypatch.setattr(fast, "compile_blocks", lambda transformer: transformer.compile_repeated_blocks(
        fullgraph=False, dynamic=False, backend="eager"))
    torch._dynamo.reset()
    counters.clear()
    try:
        engine = engine_for(models, "generate", diffusers_fast=True)
        warm.get_pipeline(engine.info, engine.plan, True)
        at_load = counters["stats"]["unique_graphs"]
        assert len(list(engine.generate(10, (48, 32), job_at(8)))) == 10
        first_job = counters["stats"]["unique_graphs"]
        assert len(list(engine_for(models, "generate", diffusers_fast=True).generate(15, (48, 32), job_at(8)))) == 15
        assert 0 < at_load < first_job == counters["stats"]["unique_graphs"]
    finally:
        warm.drop_pipelines()
        torch._dynamo.reset()


def test_a_job_waiting_for_the_compile_at_load_can_be_canceled(models, on_cpu_as_on_a_gpu, monkeypatch):
    release = threading.Event()
    shapes: set = set()
    monkeypatch.setattr(fast, "EXACT_BACKENDS", ())
    monkeypatch.setattr(fast, "compile_blocks", fake_compile(shapes, slow=release))
    job = job_at(8)
    seen = []

    def progress(fraction, stage):
        seen.append(stage)
        if "compiling the transformer" in stage:
            job.cancel_event.set()

    job.on_progress = progress
    engine = engine_for(models, "generate", diffusers_fast=True)
    started = time.monotonic()
    with pytest.raises(Canceled):
        list(engine.generate(5, (48, 32), job))
    assert time.monotonic() - started < 5 and not release.is_set()  # canceled while the compile went on
    release.set()
    out = list(engine_for(models, "generate", diffusers_fast=True).generate(5, (48, 32), job_at(8)))
    assert len(out) == 5 and shapes  # the load finished, compiled and warm for the next job
