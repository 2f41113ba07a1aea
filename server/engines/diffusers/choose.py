"""Which model does an operation, and the request options the engine reads (steps, guidance,
guidance_2 for two-expert models, model, lora).

Importing this module imports neither torch nor diffusers; choosing a model plans its device,
which does.
"""

from __future__ import annotations

import math
from typing import Any

from server.engines.base import EngineUnavailable
from server.engines.diffusers import devices
from server.engines.diffusers.devices import DevicePlan
from server.engines.diffusers.models import ModelInfo, discover


def select_model(operation: str, wanted: str | None, settings: Any) -> tuple[ModelInfo, DevicePlan]:
    """The model that will do ``operation`` (the one named ``wanted`` if given); raises EngineUnavailable."""
    missing = devices.missing_packages()
    if missing:
        raise EngineUnavailable("diffusers", f"Python packages missing: {', '.join(missing)} (install with "
                                             "`scripts/setup.sh --diffusers`)")
    if wanted is not None and not isinstance(wanted, str):
        from otio_tools import RequestError

        raise RequestError("bad_request", f"metadata.shotforge.model must be a model name, not {wanted!r}")
    models, notes = discover(settings.models, settings.hf_cache)
    if wanted:
        named = [m for m in models if m.name == wanted]
        if not named:
            known = ", ".join(m.name for m in models) or "none"
            raise EngineUnavailable("diffusers", f"no model called {wanted!r} (models found: {known})")
        models = named
    reasons = []
    for m in models:
        if operation not in m.operations:
            if wanted or not m.problems:
                reasons.append(not_serving(m, operation))
            else:
                reasons.append(f"{m.name}: {'; '.join(m.problems)}")
            continue
        if m.problems:
            reasons.append(f"{m.name} ({m.path}) is broken: {'; '.join(m.problems)}")
            continue
        plan, why = devices.plan_device(m, settings)
        if plan is None:
            reasons.append(f"{m.name}: {why}")
            continue
        return m, plan
    if not models:
        where = (f"the models folder {settings.models}" if settings.models
                 else "no models folder is configured (--models DIR or SHOTFORGE_MODELS)")
        raise EngineUnavailable("diffusers", f"no model for {operation}: {where}"
                                             f"{'; ' + '; '.join(notes) if notes else ''}")
    raise EngineUnavailable("diffusers", f"no usable model for {operation}: {'; '.join(reasons)}")


def not_serving(model: ModelInfo, operation: str) -> str:
    """Why ``model`` does not do ``operation``, and what it does instead (for an editor choosing another)."""
    why = model.not_served().get(operation)
    does = f"it serves {', '.join(model.operations)}" if model.operations else "it serves no operation"
    return f"{model.name} does not serve {operation} ({model.family_name}: {why + '; ' if why else ''}{does})"


def serves(operation: str, wanted: str | None, settings: Any) -> bool:
    """Whether a usable model here serves ``operation`` (for ``engine: auto``)."""
    try:
        select_model(operation, wanted, settings)
    except EngineUnavailable:
        return False
    return True


def option(options: dict, key: str, kind: type, low: float, high: float, default: Any) -> Any:
    from otio_tools import RequestError

    value = options.get(key)
    if value is None:
        return default
    try:
        value = kind(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError
    except (TypeError, ValueError):
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be a number, not {value!r}") from None
    if not low <= value <= high:
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be between {low} and {high}, not {value}")
    return value


def check_options(options: dict) -> None:
    """Refuse bad engine options in a request (metadata.shotforge.steps/guidance/model) before it is
    queued: raises RequestError. Imports nothing heavy."""
    from otio_tools import RequestError

    from server.engines.diffusers.lora import check_request

    option(options, "steps", int, 1, 500, None)
    option(options, "guidance", float, 0.0, 50.0, None)
    option(options, "guidance_2", float, 0.0, 50.0, None)
    try:
        check_request(options.get("lora"))
    except ValueError as exc:
        raise RequestError("bad_request", str(exc)) from None
    model = options.get("model")
    if model is not None and not (isinstance(model, str) and model.strip()):
        raise RequestError("bad_request", f"metadata.shotforge.model must be a model name, not {model!r}")
