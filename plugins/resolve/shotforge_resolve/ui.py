"""The ShotForge dialog (Fusion UIManager). All the work is in workflow (Run, remove_last,
start_new_take); this file only shows fields, remembers them, asks before an overwrite, and
reports progress and messages.

UIManager facts used (Resolve's UI scripting): ``fusion.UIManager``, ``bmd.UIDispatcher(ui)``,
``disp.AddWindow({...}, layout)``, ``win.On.<ID>.Clicked``/``.Close``, ``win.GetItems()``,
``disp.RunLoop()``/``disp.ExitLoop()``. Progress uses a ``ui.Timer`` when this Resolve has one
(verify on each Resolve version); without it the dialog waits for the job with no live progress.
"""

import time

from . import settings as settings_mod
from .client import JobWatcher
from .context import CANVAS_PRESETS
from .errors import OverwriteNeedsConfirmation, ShotForgeError
from .facts import current_timeline
from .takes import removed_words
from .workflow import Conform, Run, remove_last, start_new_take

OPERATION_CHOICES = [  # (label, operation, side)
    ("Extend tail", "extend", "tail"),
    ("Extend head", "extend", "head"),
    ("Fill gap", "fill_gap", None),
    ("Outpaint", "outpaint", None),
    ("Generate B-roll", "generate", None),
    ("Inpaint", "inpaint", None),
]
ENGINE_CHOICES = ["auto", "classical", "diffusers"]
PLACEMENT_CHOICES = [("Auto: this track if free, else a free track above", "auto"),
                     ("Above: a free track above", "above"),
                     ("Overwrite: make room on this track (asks first)", "overwrite")]
UNIT_CHOICES = ["frames", "seconds"]
RANGE_CHOICES = [("In/Out marks (or a duration marker)", "marker"), ("From playhead, the length above", "length")]
REFERENCE_CHOICES = [("No reference image", "none"), ("Frame under the playhead", "playhead"),
                     ("A still image file", "still")]
INPAINT_CHOICES = [("Region: x, y, width, height in the clip's source pixels", "region"),
                   ("Matte file: a still or a video, white = replace", "matte")]
CONFORM_ENGINE_CHOICES = ["diffusers", "classical", "auto"]  # auto: the engine each take was made with
CONFORM_MODE_CHOICES = [("Place beside: each new take on a free track above", "beside"),
                        ("Swap in: each new take replaces its placeholder", "swap")]
TIMER_ID = "ShotForgeTimer"


def _row(ui, label, widget, weight=0.35):
    return ui.HGroup({"Weight": 0}, [ui.Label({"Text": label, "Weight": weight}), widget])


def build_window(ui, disp):
    layout = ui.VGroup({"Spacing": 6}, [
        _row(ui, "Operation", ui.ComboBox({"ID": "Operation"})),
        _row(ui, "Video track", ui.ComboBox({"ID": "Track"})),
        _row(ui, "Length", ui.HGroup({}, [ui.LineEdit({"ID": "Length"}), ui.ComboBox({"ID": "LengthUnit"})])),
        _row(ui, "Generate range", ui.ComboBox({"ID": "GenerateRange"})),
        _row(ui, "Outpaint canvas", ui.HGroup({}, [
            ui.ComboBox({"ID": "Canvas"}),
            ui.LineEdit({"ID": "CanvasWidth", "PlaceholderText": "width"}),
            ui.LineEdit({"ID": "CanvasHeight", "PlaceholderText": "height"})])),
        _row(ui, "Inpaint", ui.ComboBox({"ID": "InpaintWith"})),
        _row(ui, "Inpaint region", ui.HGroup({}, [
            ui.LineEdit({"ID": "InpaintRegion", "PlaceholderText": "x, y, width, height (source pixels)"}),
            ui.LineEdit({"ID": "InpaintRegionEnd",
                         "PlaceholderText": "at the clip's last frame (optional: a moving object)"})])),
        _row(ui, "Inpaint matte", ui.LineEdit({"ID": "InpaintMask",
                                               "PlaceholderText": "matte file (white = replace)"})),
        _row(ui, "Prompt", ui.TextEdit({"ID": "Prompt", "Weight": 1})),
        _row(ui, "Negative prompt", ui.LineEdit({"ID": "NegativePrompt"})),
        _row(ui, "Seed", ui.LineEdit({"ID": "Seed"})),
        _row(ui, "Reference", ui.HGroup({}, [ui.ComboBox({"ID": "Reference"}),
                                             ui.LineEdit({"ID": "ReferenceImage", "PlaceholderText": "still path"})])),
        _row(ui, "Engine", ui.ComboBox({"ID": "Engine"})),
        _row(ui, "Placement", ui.ComboBox({"ID": "Placement"})),
        _row(ui, "Conform with", ui.HGroup({}, [
            ui.ComboBox({"ID": "ConformEngine"}),
            ui.LineEdit({"ID": "ConformModel", "PlaceholderText": "model folder (diffusers; blank: the default)"})])),
        _row(ui, "Conform", ui.HGroup({}, [
            ui.ComboBox({"ID": "ConformMode"}),
            ui.CheckBox({"ID": "ConformClassical", "Text": "Include classical results"}),
            ui.CheckBox({"ID": "ConformNewSeed", "Text": "New seed"})])),
        _row(ui, "Server", ui.LineEdit({"ID": "ServerUrl"})),
        _row(ui, "Token", ui.LineEdit({"ID": "Token", "EchoMode": "Password"})),
        _row(ui, "shotforge path", ui.LineEdit({"ID": "ShotforgePath",
                                                "PlaceholderText": "optional: start the server when it is not running"})),
        _row(ui, "New take", ui.HGroup({}, [
            ui.LineEdit({"ID": "NewTakeSeed", "PlaceholderText": "seed (blank: a fresh random one)"}),
            ui.LineEdit({"ID": "NewTakePrompt", "PlaceholderText": "prompt (blank: the take's own)"})])),
        ui.Label({"ID": "Status", "Text": "", "WordWrap": True, "Weight": 0}),
        ui.HGroup({"Weight": 0}, [ui.Button({"ID": "Run", "Text": "Run"}),
                                  ui.Button({"ID": "NewTake", "Text": "New take"}),
                                  ui.Button({"ID": "RemoveLast", "Text": "Remove last result"}),
                                  ui.Button({"ID": "Conform", "Text": "Conform placeholders"}),
                                  ui.Button({"ID": "Cancel", "Text": "Cancel job", "Enabled": False}),
                                  ui.Button({"ID": "Close", "Text": "Close"})]),
    ])
    return disp.AddWindow({"ID": "ShotForgeWin", "WindowTitle": "ShotForge", "Geometry": [200, 150, 560, 700]},
                          layout)


def build_confirm(ui, disp, message):
    """The dialog asking before an overwrite: what it would remove or shorten, and two answers."""
    layout = ui.VGroup({"Spacing": 6}, [
        ui.Label({"ID": "ConfirmText", "Text": message, "WordWrap": True}),
        ui.HGroup({"Weight": 0}, [ui.Button({"ID": "ConfirmOverwrite", "Text": "Overwrite"}),
                                  ui.Button({"ID": "KeepTimeline", "Text": "Keep the timeline as it is"})]),
    ])
    return disp.AddWindow({"ID": "ShotForgeConfirm", "WindowTitle": "ShotForge: overwrite?",
                           "Geometry": [260, 200, 520, 260]}, layout)


class Dialog(object):
    def __init__(self, resolve, fusion, bmd):
        self.resolve = resolve
        self.ui = fusion.UIManager
        self.disp = bmd.UIDispatcher(self.ui)
        self.win = build_window(self.ui, self.disp)
        self.items = self.win.GetItems()
        self.values = settings_mod.load()
        self.run = None
        self.watcher = None
        self.timer = None
        self.confirm = None     # the overwrite question, while it is open
        self.pending = None     # (the finished job record, the question) while the editor is asked
        self.conform = None     # a workflow.Conform while its re-renders run
        self._fill()
        on = self.win.On
        on.ShotForgeWin.Close = self.on_close
        on.Close.Clicked = self.on_close
        on.Run.Clicked = self.on_run
        on.NewTake.Clicked = self.on_new_take
        on.RemoveLast.Clicked = self.on_remove_last
        on.Conform.Clicked = self.on_conform
        on.Cancel.Clicked = self.on_cancel
        try:
            self.timer = self.ui.Timer({"ID": TIMER_ID, "Interval": 250, "SingleShot": False})
        except Exception:
            self.timer = None
        if self.timer is not None:
            try:
                getattr(on, TIMER_ID).Timeout = self.on_tick
            except Exception:
                pass
            try:
                self.disp.On.Timeout = self.on_tick
            except Exception:
                pass

    # -- values ----------------------------------------------------------------------------
    def _fill(self):
        it, v = self.items, self.values
        for label, _, _ in OPERATION_CHOICES:
            it["Operation"].AddItem(label)
        for index, (_, op, side) in enumerate(OPERATION_CHOICES):
            if op == v["operation"] and (side is None or side == v["side"]):
                it["Operation"].CurrentIndex = index
        it["Track"].AddItem("auto")
        try:
            timeline = current_timeline(self.resolve)[1]
            count = int(timeline.GetTrackCount("video")) if timeline else 1
        except Exception:
            count = 1
        tracks = ["auto"] + ["V{}".format(n) for n in range(1, count + 1)]
        for name in tracks[1:]:
            it["Track"].AddItem(name)
        if str(v["track"]) in tracks:
            it["Track"].CurrentIndex = tracks.index(str(v["track"]))
        it["Length"].Text = str(v["length"])
        for unit in UNIT_CHOICES:
            it["LengthUnit"].AddItem(unit)
        it["LengthUnit"].CurrentIndex = UNIT_CHOICES.index(v["length_unit"]) if v["length_unit"] in UNIT_CHOICES else 0
        self._choose(it["GenerateRange"], RANGE_CHOICES, v["generate_range"])
        for preset in CANVAS_PRESETS:
            it["Canvas"].AddItem(preset)
        if v["canvas_preset"] in CANVAS_PRESETS:
            it["Canvas"].CurrentIndex = list(CANVAS_PRESETS).index(v["canvas_preset"])
        it["CanvasWidth"].Text = str(v["canvas_width"])
        it["CanvasHeight"].Text = str(v["canvas_height"])
        self._choose(it["InpaintWith"], INPAINT_CHOICES, v["inpaint_with"])
        it["InpaintRegion"].Text = str(v["inpaint_region"])
        it["InpaintRegionEnd"].Text = str(v["inpaint_region_end"])
        it["InpaintMask"].Text = v["inpaint_mask"]
        it["Prompt"].PlainText = v["prompt"]
        it["NegativePrompt"].Text = v["negative_prompt"]
        it["Seed"].Text = str(v["seed"])
        self._choose(it["Reference"], REFERENCE_CHOICES, v["reference"])
        it["ReferenceImage"].Text = v["reference_image"]
        for engine in ENGINE_CHOICES:
            it["Engine"].AddItem(engine)
        if v["engine"] in ENGINE_CHOICES:
            it["Engine"].CurrentIndex = ENGINE_CHOICES.index(v["engine"])
        self._choose(it["Placement"], PLACEMENT_CHOICES, v["placement"])
        for engine in CONFORM_ENGINE_CHOICES:
            it["ConformEngine"].AddItem(engine)
        if v["conform_engine"] in CONFORM_ENGINE_CHOICES:
            it["ConformEngine"].CurrentIndex = CONFORM_ENGINE_CHOICES.index(v["conform_engine"])
        it["ConformModel"].Text = v["conform_model"]
        self._choose(it["ConformMode"], CONFORM_MODE_CHOICES, v["conform_mode"])
        it["ConformClassical"].Checked = bool(v["conform_classical"])
        it["ConformNewSeed"].Checked = bool(v["conform_new_seed"])
        it["NewTakeSeed"].Text = str(v["new_take_seed"])
        it["NewTakePrompt"].Text = v["new_take_prompt"]
        it["ServerUrl"].Text = v["server_url"]
        it["Token"].Text = v["token"]
        it["ShotforgePath"].Text = v["shotforge_path"]

    @staticmethod
    def _choose(combo, choices, value):
        for label, _ in choices:
            combo.AddItem(label)
        for index, (_, key) in enumerate(choices):
            if key == value:
                combo.CurrentIndex = index

    def read_values(self):
        it = self.items
        label, op, side = OPERATION_CHOICES[int(it["Operation"].CurrentIndex)]
        values = dict(self.values)
        values.update({
            "operation": op, "side": side or values.get("side", "tail"),
            "track": it["Track"].CurrentText or "auto",
            "length": it["Length"].Text.strip(),
            "length_unit": UNIT_CHOICES[int(it["LengthUnit"].CurrentIndex)],
            "generate_range": RANGE_CHOICES[int(it["GenerateRange"].CurrentIndex)][1],
            "canvas_preset": CANVAS_PRESETS[int(it["Canvas"].CurrentIndex)],
            "canvas_width": it["CanvasWidth"].Text.strip(),
            "canvas_height": it["CanvasHeight"].Text.strip(),
            "inpaint_with": INPAINT_CHOICES[int(it["InpaintWith"].CurrentIndex)][1],
            "inpaint_region": it["InpaintRegion"].Text.strip(),
            "inpaint_region_end": it["InpaintRegionEnd"].Text.strip(),
            "inpaint_mask": it["InpaintMask"].Text.strip(),
            "prompt": it["Prompt"].PlainText,
            "negative_prompt": it["NegativePrompt"].Text,
            "seed": it["Seed"].Text.strip() or "0",
            "reference": REFERENCE_CHOICES[int(it["Reference"].CurrentIndex)][1],
            "reference_image": it["ReferenceImage"].Text.strip(),
            "engine": ENGINE_CHOICES[int(it["Engine"].CurrentIndex)],
            "placement": PLACEMENT_CHOICES[int(it["Placement"].CurrentIndex)][1],
            "conform_engine": CONFORM_ENGINE_CHOICES[int(it["ConformEngine"].CurrentIndex)],
            "conform_model": it["ConformModel"].Text.strip(),
            "conform_mode": CONFORM_MODE_CHOICES[int(it["ConformMode"].CurrentIndex)][1],
            "conform_classical": bool(it["ConformClassical"].Checked),
            "conform_new_seed": bool(it["ConformNewSeed"].Checked),
            "new_take_seed": it["NewTakeSeed"].Text.strip(),
            "new_take_prompt": it["NewTakePrompt"].Text,
            "server_url": it["ServerUrl"].Text.strip() or settings_mod.DEFAULTS["server_url"],
            "token": it["Token"].Text.strip(),
            "shotforge_path": it["ShotforgePath"].Text.strip(),
        })
        self.values = values
        try:
            settings_mod.save(values)
        except OSError:
            pass  # settings are a convenience: never block a run on them
        return values

    # -- status ----------------------------------------------------------------------------
    def status(self, text):
        self.items["Status"].Text = text

    def busy(self, running):
        for name in ("Run", "NewTake", "RemoveLast", "Conform"):
            self.items[name].Enabled = not running
        self.items["Cancel"].Enabled = running

    # -- events ----------------------------------------------------------------------------
    def on_run(self, ev):
        if self.watcher is not None or self.confirm is not None:
            return
        options = self.read_values()
        self.run = Run(self.resolve, options)
        try:
            self.status("Reading the timeline…")
            self.run.read_context()
        except ShotForgeError as exc:
            self.status(exc.message)
            self.run = None
            return
        self._send()

    def on_new_take(self, ev):
        if self.watcher is not None or self.confirm is not None:
            return
        options = self.read_values()
        prompt = options["new_take_prompt"] if str(options["new_take_prompt"]).strip() else None
        try:
            self.run = start_new_take(self.resolve, options, seed=options["new_take_seed"] or None, prompt=prompt)
        except ShotForgeError as exc:
            self.status(exc.message)
            self.run = None
            return
        self._send()

    def on_remove_last(self, ev):
        if self.watcher is not None or self.confirm is not None:
            return
        try:
            done = remove_last(self.resolve, self.read_values())
        except ShotForgeError as exc:
            self.status(exc.message)
            return
        self.status(" ".join([removed_words(done["take"], done)] + done["notes"]))

    def on_conform(self, ev):
        if self.watcher is not None or self.confirm is not None or self.conform is not None:
            return
        try:
            job = Conform(self.resolve, self.read_values())
            self.status("Conform placeholders: reading the timeline and sending the re-renders…")
            self.status(job.start())
        except ShotForgeError as exc:
            self.status(exc.message)
            return
        self.conform = job
        self.busy(True)
        if self._timer_started():
            return
        while self.conform is not None:  # no timer here: follow without returning to the dialog
            time.sleep(0.5)
            self._conform_tick()

    def _timer_started(self):
        """Start the dialog's timer for live progress; False when this Resolve has none that starts
        (the caller then follows the job itself)."""
        if self.timer is not None:
            try:
                self.timer.Start()
                return True
            except Exception:
                self.timer = None
        return False

    def _conform_tick(self):
        try:
            finished, fraction, stage = self.conform.poll()
        except ShotForgeError as exc:
            finished, stage = True, exc.message
        if not finished:
            self.status("Conform placeholders: {}% ({})".format(int(round(100 * fraction)), stage))
            return
        self._stop_timer()
        job, self.conform = self.conform, None
        self.busy(False)
        self.status("Conform placeholders: placing the new takes…")
        self.status(job.place()["message"])

    def _stop_timer(self):
        if self.timer is not None:
            try:
                self.timer.Stop()
            except Exception:
                pass

    def _send(self):
        what = self.run.description
        try:
            self.status("{}: checking the server…".format(what))
            self.run.ensure_server()
            self.status("{}: sending the job…".format(what))
            job_id = self.run.submit()
        except ShotForgeError as exc:
            self.status(exc.message)
            self.run = None
            return
        self.watcher = JobWatcher(self.run.client, job_id).start()
        self.busy(True)
        if self._timer_started():
            return
        self.watcher.finished.wait()  # no timer here: wait without live progress
        self.on_tick(None)

    def on_tick(self, ev):
        if self.conform is not None:
            self._conform_tick()
            return
        if self.watcher is None:
            return
        record = self.watcher.snapshot()
        state = record.get("state")
        percent = int(round(100 * float(record.get("progress") or 0)))
        self.status("{} {}% ({})".format(state or "", percent, record.get("stage") or ""))
        if not self.watcher.finished.is_set():
            return
        record = self.watcher.snapshot()
        if self.timer is not None:
            try:
                self.timer.Stop()
            except Exception:
                pass
        watcher, self.watcher = self.watcher, None
        self.busy(False)
        if watcher.error is not None:
            self.status(getattr(watcher.error, "message", str(watcher.error)))
            return
        self._place(record, None)

    def _place(self, record, confirmed):
        try:
            done = self.run.finish(record, confirm_overwrite=confirmed)
        except OverwriteNeedsConfirmation as exc:
            self.ask_overwrite(record, exc)
            return
        except ShotForgeError as exc:
            self.status(exc.message)
            return
        tracks = sorted(set(p["track"] for p in done.get("audio") or []))  # an extension's pieces share one
        sound = "; its sound on {}".format(", ".join("A{}".format(track) for track in tracks)) if tracks else ""
        self.status(" ".join(["Done: placed {} clip{} as '{}' ({}{}).".format(
            len(done["placed"]), "" if len(done["placed"]) == 1 else "s", done["name"],
            ", ".join("V{} at {}".format(p["track"], p["timecode"]) for p in done["placed"]), sound)] + done["notes"]))

    def ask_overwrite(self, record, exc):
        """Show what the overwrite would remove or shorten; place only when the editor says so, and
        only exactly that (the yes carries the question: what is in the way then must be the same)."""
        self.pending = (record, exc.question)
        self.status("Overwrite needs your answer (see the ShotForge: overwrite? window).")
        self.confirm = build_confirm(self.ui, self.disp, exc.message)
        on = self.confirm.On
        on.ConfirmOverwrite.Clicked = self.on_confirm_overwrite
        on.KeepTimeline.Clicked = self.on_keep_timeline
        on.ShotForgeConfirm.Close = self.on_keep_timeline
        self.busy(True)
        self.items["Cancel"].Enabled = False
        self.confirm.Show()

    def _close_confirm(self):
        window, self.confirm = self.confirm, None
        pending, self.pending = self.pending, None
        if window is not None:
            window.Hide()
        self.busy(False)
        return pending or (None, None)

    def on_confirm_overwrite(self, ev):
        record, question = self._close_confirm()
        if record is not None:
            self._place(record, question)

    def on_keep_timeline(self, ev):
        record, _question = self._close_confirm()
        if record is not None:
            media = ", ".join((record.get("result") or {}).get("media") or [])
            self.status("Nothing was placed; the timeline is unchanged. The render is kept at {}.".format(media))

    def on_cancel(self, ev):
        if self.conform is not None:
            self._stop_timer()
            job, self.conform = self.conform, None
            self.busy(False)
            self.status(job.cancel().message)
            return
        if self.watcher is not None:
            self.status("Canceling…")
            self.watcher.cancel()

    def on_close(self, ev):
        if self.watcher is not None:
            self.watcher.cancel()
        if self.conform is not None:
            self.conform.cancel()
        if self.confirm is not None:
            self.on_keep_timeline(ev)
        self.disp.ExitLoop()

    def show(self):
        self.win.Show()
        self.disp.RunLoop()
        self.win.Hide()


def main(resolve, fusion, bmd):
    if fusion is None or bmd is None:
        print("ShotForge: Resolve's UI scripting (fusion, bmd) is not available here.")
        return
    Dialog(resolve, fusion, bmd).show()
