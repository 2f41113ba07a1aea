"""The diffusers engine: open video models for the five operations.

Each model family drives its operations through one pipeline call, behind a small conditioner per
family (:mod:`.families`): Wan VACE (2.1, and 2.2 A14B with two experts) a video of known frames
and a mask saying which pixels to make, for all five operations; LTX-Video known frames as
conditions at their positions (extend, gap fill, generate); Wan 2.2 TI2V-5B text or one first
frame (extend, generate). The engine lays each job out on *slots* at the model's rate, fits the picture
into the model's canvas, cuts long requests into windows that see known frames on every side there
are any, and reads the frames that land on the timeline back off the slots at the timeline rate.

Modules, top to bottom:

- :mod:`.models`, :mod:`.natives`: finding pipelines on disk (no torch), their family, native size,
  rate and the limits read from their configs;
- :mod:`.lora`: distilled LoRAs chosen by a model folder or a request;
- :mod:`.devices`: where a model runs here and how its weights are placed;
- :mod:`.warm`: loading once, keeping warm, placing again after running out of memory;
- :mod:`.fast`: the opt-in fast path (attention backend, step cache, compile at load);
- :mod:`.step_cache`: the First-Block cache over the whole VACE forward;
- :mod:`.windows`, :mod:`.retime`, :mod:`.canvas`: slots, windows, retiming, the model picture;
- :mod:`.run`: one operation's windows through the pipeline, with progress, cancel and fallbacks;
- :mod:`.engine`: the five operations and availability; :mod:`.inpaint`: slots and compositing for
  inpaint; :mod:`.choose`: the model for a request.

Models are found, never downloaded: a models folder and the local Hugging Face cache, read with
``HF_HUB_OFFLINE=1`` and ``local_files_only=True``. Torch and diffusers are imported only inside
functions, so a missing package is reported by :meth:`DiffusersEngine.availability` rather than
raised on import.
"""

import os

# Nothing is ever downloaded: the hub libraries read these when they are first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from server.engines.diffusers.choose import check_options, select_model, serves  # noqa: E402
from server.engines.diffusers.devices import DevicePlan, missing_packages, plan_device  # noqa: E402
from server.engines.diffusers.engine import DiffusersEngine, build_engine  # noqa: E402
from server.engines.diffusers.models import ModelInfo, Native, discover, inspect_pipeline  # noqa: E402
from server.engines.diffusers.errors import EngineFailed  # noqa: E402
from server.engines.diffusers.warm import drop_pipelines, get_pipeline, load_pipeline  # noqa: E402

__all__ = ["DevicePlan", "DiffusersEngine", "EngineFailed", "ModelInfo", "Native", "build_engine", "check_options",
           "discover", "drop_pipelines", "get_pipeline", "inspect_pipeline", "load_pipeline", "missing_packages",
           "plan_device", "select_model", "serves"]
