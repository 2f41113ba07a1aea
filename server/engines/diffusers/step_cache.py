"""A First-Block step cache over the whole VACE forward, hints included.

diffusers' ``FirstBlockCache`` hooks the transformer blocks only. ``WanVACETransformer3DModel``
runs its control branch (``vace_blocks``) first, then adds each control hint to the hidden states
*between* the main blocks, in the model's own forward: on a cache hit the cached residual already
holds the hints and the forward adds them again (measured on a tiny VACE model: off by up to 1.05
against a mean output of 0.52 for the same input twice). This cache decides per denoising call
from the first control block's hint, and on a hit skips everything after it, hints included:

- miss: every block runs; the residual from the main blocks' input to ``norm_out``'s input (all
  blocks and all hints) is kept;
- hit (the first hint changed by less than ``threshold``, relative mean absolute change since the
  last computed call): every hint is zero, every main block passes its input through, and
  ``norm_out`` is given that input plus the kept residual: exactly what the last computed call
  added, hints once.

Classifier-free guidance calls the transformer twice a step with different text embeddings; each
keeps its own state, keyed by the embedding tensor (the pipeline encodes the prompts once a call,
so a new call starts afresh; the engine also resets it after each call).
"""

from __future__ import annotations

from typing import Any

import torch

#: The wrappers' branching (hit or miss) stays out of compiled graphs: only the frames these wrap are
#: skipped by torch.compile, the blocks' own forwards they call are still compiled, once per shape
#: (traced through, a hit would add graphs and a later miss recompile the blocks).
_outside_graphs = torch.compiler.disable(recursive=False)


class _State:
    __slots__ = ("text", "hint", "residual", "block_input")

    def __init__(self, text: torch.Tensor):
        self.text = text
        self.hint: torch.Tensor | None = None
        self.residual: torch.Tensor | None = None
        self.block_input: torch.Tensor | None = None


class VaceStepCache:
    """Installed on a ``WanVACETransformer3DModel`` by :meth:`apply`; counts its hits and misses."""

    def __init__(self, threshold: float = 0.05):
        self.threshold = threshold
        self.hits = 0
        self.misses = 0
        self.skip = False  # this call is a hit: blocks pass through (read by the wrapped blocks)
        self._states: list[_State] = []
        self._state: _State | None = None
        self._undo: list[Any] = []

    # -- installing ------------------------------------------------------------------------------
    def apply(self, transformer: torch.nn.Module) -> "VaceStepCache":
        self._wrap(transformer, self._forward)
        self._wrap(transformer.vace_blocks[0], self._first_hint)
        for block in transformer.vace_blocks[1:]:
            self._wrap(block, self._later_hint)
        self._wrap(transformer.blocks[0], self._first_block)
        for block in transformer.blocks[1:]:
            self._wrap(block, self._block)
        handle = transformer.norm_out.register_forward_pre_hook(self._before_norm_out)
        self._undo.append(handle.remove)
        return self

    def remove(self) -> None:
        """Take the cache off again (the fast path without the cache, or back to the default path)."""
        while self._undo:
            self._undo.pop()()
        self.reset()

    def reset(self) -> None:
        """Forget what was kept (after each pipeline call: its residuals are large, and on the GPU)."""
        self._states.clear()

    def _wrap(self, module: torch.nn.Module, how) -> None:
        original = module.forward
        had_own = "forward" in module.__dict__

        @_outside_graphs
        def forward(*args, **kwargs):
            return how(original, *args, **kwargs)

        module.forward = forward
        self._undo.append(lambda: setattr(module, "forward", original) if had_own else delattr(module, "forward"))

    # -- the wrapped calls ----------------------------------------------------------------------
    @_outside_graphs
    def _forward(self, original, *args, **kwargs):
        text = kwargs["encoder_hidden_states"] if "encoder_hidden_states" in kwargs else args[2]
        self._state = self._state_for(text)
        try:
            return original(*args, **kwargs)
        finally:
            self._state, self.skip = None, False

    def _state_for(self, text: torch.Tensor) -> _State:
        for state in self._states:
            if state.text is text:
                return state
        self._states = [*self._states[-1:], _State(text)]  # this call's cond and uncond
        return self._states[-1]

    @_outside_graphs
    def _first_hint(self, original, hidden_states, *args, **kwargs):
        hint, control = original(hidden_states, *args, **kwargs)
        if self._state is None:  # called outside the model's forward: nothing to decide
            return hint, control
        if self._decide(hint):
            return hint.new_zeros(()), control
        return hint, control

    @_outside_graphs
    def _later_hint(self, original, hidden_states, encoder_hidden_states, control_hidden_states, *args, **kwargs):
        if self.skip:
            return hidden_states.new_zeros(()), control_hidden_states
        return original(hidden_states, encoder_hidden_states, control_hidden_states, *args, **kwargs)

    @_outside_graphs
    def _first_block(self, original, hidden_states, *args, **kwargs):
        if self.skip:
            return hidden_states
        self._remember_input(hidden_states)
        return original(hidden_states, *args, **kwargs)

    @_outside_graphs
    def _block(self, original, hidden_states, *args, **kwargs):
        if self.skip:
            return hidden_states
        return original(hidden_states, *args, **kwargs)

    @torch.compiler.disable
    def _before_norm_out(self, module, args):
        state = self._state
        if state is None:
            return None
        if self.skip:
            return (args[0] + state.residual,) + tuple(args[1:])
        if state.block_input is None:
            return None
        state.residual = args[0] - state.block_input
        state.block_input = None
        return None

    @torch.compiler.disable
    def _remember_input(self, hidden_states: torch.Tensor) -> None:
        self._state.block_input = hidden_states

    @torch.compiler.disable
    def _decide(self, hint: torch.Tensor) -> bool:
        """Whether this call reuses the last computed residual (a hit); keeps the hint when it computes."""
        state = self._state
        hit = False
        if state.hint is not None and state.residual is not None:
            change = (hint - state.hint).abs().mean() / state.hint.abs().mean().clamp_min(1e-12)
            hit = bool(change.item() < self.threshold)
        if hit:
            self.hits += 1
            state.block_input = None
        else:
            self.misses += 1
            state.hint = hint
        self.skip = hit
        return hit


class BlockStepCache:
    """diffusers' First-Block cache, for transformers that add nothing between their blocks (plain
    Wan, LTX-Video): there it is exact on a hit. Counts its hits and misses from the cache's own
    decision after the first block."""

    def __init__(self, threshold: float = 0.05):
        self.threshold = threshold
        self.hits = 0
        self.misses = 0
        self._transformer: torch.nn.Module | None = None
        self._handle: Any = None

    def apply(self, transformer: torch.nn.Module) -> "BlockStepCache":
        from diffusers.hooks import FirstBlockCacheConfig, HookRegistry
        from diffusers.hooks.first_block_cache import _FBC_LEADER_BLOCK_HOOK

        transformer.enable_cache(FirstBlockCacheConfig(threshold=self.threshold))
        blocks = getattr(transformer, "blocks", None) or transformer.transformer_blocks
        leader = HookRegistry.check_if_exists_or_initialize(blocks[0]).get_hook(_FBC_LEADER_BLOCK_HOOK)

        @torch.compiler.disable
        def count(module, args, output):
            if leader.state_manager.get_state().should_compute:
                self.misses += 1
            else:
                self.hits += 1

        self._transformer, self._handle = transformer, blocks[0].register_forward_hook(count)
        return self

    def remove(self) -> None:
        if self._transformer is not None:
            self._handle.remove()
            self._transformer.disable_cache()
            self._transformer = None

    def reset(self) -> None:
        if self._transformer is not None:
            self._transformer._reset_stateful_cache()
