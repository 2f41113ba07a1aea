"""The dialog's glue (ui.py) on a stand-in for Fusion's UIManager: fields filled from the saved
settings, values read back and saved, the job followed by the timer, messages shown, the
overwrite question (what it removes or shortens; nothing placed unless confirmed), and the
"New take" and "Remove last result" buttons.

The UIManager stand-in only records what the dialog builds; what Resolve's real UIManager does
with it (layout, the Timer's event name) cannot be checked here."""

from __future__ import annotations

import time

import pytest

from resolve_helpers import make_media, new_resolve, server  # noqa: F401 (server: fixture)

import fake_resolve  # noqa: E402
from shotforge_resolve import settings as sf_settings  # noqa: E402
from shotforge_resolve import ui as sf_ui  # noqa: E402


class Widget:
    def __init__(self, kind, props=None, children=None):
        self.kind = kind
        self.ID = None
        self.Text = ""
        self.PlainText = ""
        self.Enabled = True
        self.items = []
        self.CurrentIndex = 0
        for key, value in (props or {}).items():
            setattr(self, key, value)
        self.children = children or []

    def AddItem(self, text):
        self.items.append(text)

    @property
    def CurrentText(self):
        return self.items[self.CurrentIndex] if self.items else ""

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class Events:
    def __init__(self):
        self.__dict__["handlers"] = {}

    def __getattr__(self, name):
        return self.handlers.setdefault(name, Handlers())


class Handlers:
    pass


class Timer:
    def __init__(self, props):
        self.props, self.running = props, False

    def Start(self):
        self.running = True

    def Stop(self):
        self.running = False


class UIManager:
    def __init__(self, with_timer=True):
        self.with_timer = with_timer
        self.timers = []

    def __getattr__(self, kind):
        if kind == "Timer":
            if not self.with_timer:
                raise AttributeError("no Timer in this UIManager")

            def make_timer(props):
                timer = Timer(props)
                self.timers.append(timer)
                return timer
            return make_timer

        def make(*args):
            props = args[0] if args and isinstance(args[0], dict) else {}
            children = args[-1] if args and isinstance(args[-1], list) else []
            return Widget(kind, props, children)
        return make


class Window:
    def __init__(self, props, layout):
        self.props, self.layout = props, layout
        self.On = Events()
        self.shown = False

    def GetItems(self):
        return {w.ID: w for w in self.layout.walk() if w.ID}

    def Show(self):
        self.shown = True

    def Hide(self):
        self.shown = False


class Dispatcher:
    def __init__(self, ui):
        self.ui = ui
        self.On = Events()
        self.windows = []

    def AddWindow(self, props, layout):
        window = Window(props, layout)
        self.windows.append(window)
        return window

    def RunLoop(self):
        pass

    def ExitLoop(self):
        self.exited = True


class Fusion:
    def __init__(self, with_timer=True):
        self.UIManager = UIManager(with_timer)


class Bmd:
    def UIDispatcher(self, ui):
        return Dispatcher(ui)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_SETTINGS", str(tmp_path / "resolve.json"))
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))
    fake_resolve.reset_log()
    yield
    assert fake_resolve.VIOLATIONS == [], fake_resolve.VIOLATIONS


def choose(combo, text):
    combo.CurrentIndex = combo.items.index(text)


def make_dialog(resolve, with_timer=True):
    return sf_ui.Dialog(resolve, Fusion(with_timer), Bmd())


@pytest.mark.parametrize("with_timer", [True, False])
def test_dialog_runs_a_job_and_remembers_its_values(tmp_path, server, with_timer):
    media = make_media("25", tmp_path / "media")
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(45)
    dialog = make_dialog(resolve, with_timer)
    items = dialog.items
    assert items["Track"].items == ["auto", "V1"]
    choose(items["Operation"], "Fill gap")
    choose(items["Engine"], "classical")
    items["ServerUrl"].Text = server.url
    items["Prompt"].PlainText = "bridge the cut"
    items["Seed"].Text = "11"
    dialog.on_run(None)
    deadline = time.monotonic() + 60
    while dialog.watcher is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        dialog.on_tick(None)
    assert items["Status"].Text.startswith("Done: placed 1 clip"), items["Status"].Text
    assert [(s, e) for s, e, _ in timeline.rows(0)] == [(0, 40), (40, 52), (52, 92)]
    assert items["Run"].Enabled and not items["Cancel"].Enabled
    saved = sf_settings.load()
    assert (saved["operation"], saved["engine"], saved["prompt"], saved["seed"], saved["server_url"]) == (
        "fill_gap", "classical", "bridge the cut", "11", server.url)
    # a new dialog shows the remembered values
    again = make_dialog(resolve).items
    assert again["Operation"].CurrentText == "Fill gap" and again["Engine"].CurrentText == "classical"
    assert again["Prompt"].PlainText == "bridge the cut" and again["ServerUrl"].Text == server.url


def test_dialog_shows_why_the_context_does_not_fit(tmp_path, server):
    media = make_media("25", tmp_path / "media")
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    before = timeline.snapshot()
    dialog = make_dialog(resolve)
    choose(dialog.items["Operation"], "Fill gap")
    dialog.items["ServerUrl"].Text = server.url
    dialog.on_run(None)
    assert "not in a gap" in dialog.items["Status"].Text and dialog.watcher is None
    choose(dialog.items["Operation"], "Extend tail")
    dialog.items["ServerUrl"].Text = "http://127.0.0.1:9"  # nothing listens there
    dialog.on_run(None)
    assert "shotforge serve --port 9" in dialog.items["Status"].Text
    assert timeline.snapshot() == before


def test_dialog_cancel(tmp_path, server):
    media = make_media("25", tmp_path / "media")
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(100)
    before = timeline.snapshot()
    dialog = make_dialog(resolve)
    choose(dialog.items["Operation"], "Generate B-roll")
    choose(dialog.items["GenerateRange"], "From playhead, the length above")
    choose(dialog.items["Engine"], "classical")
    dialog.items["Length"].Text = "3000"
    dialog.items["ServerUrl"].Text = server.url
    dialog.on_run(None)
    assert dialog.items["Cancel"].Enabled
    dialog.on_cancel(None)
    deadline = time.monotonic() + 60
    while dialog.watcher is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        dialog.on_tick(None)
    assert "canceled" in dialog.items["Status"].Text
    assert timeline.snapshot() == before


def wait(dialog):
    deadline = time.monotonic() + 60
    while dialog.watcher is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        dialog.on_tick(None)


def test_placement_choices_and_the_take_buttons_are_there(tmp_path):
    media = make_media("25", tmp_path / "media")
    resolve, _, _ = new_resolve("25", media)
    items = make_dialog(resolve).items
    assert [key for _, key in sf_ui.PLACEMENT_CHOICES] == ["auto", "above", "overwrite"]
    assert items["Placement"].CurrentText.startswith("Auto")  # the default
    assert items["NewTake"].Text == "New take" and items["RemoveLast"].Text == "Remove last result"
    assert items["NewTakeSeed"].Text == "" and items["NewTakePrompt"].Text == ""


def test_overwrite_asks_and_keeping_the_timeline_places_nothing(tmp_path, server):
    media = make_media("25", tmp_path / "media")
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    before = timeline.snapshot()
    dialog = make_dialog(resolve)
    items = dialog.items
    choose(items["Operation"], "Extend tail")
    choose(items["Engine"], "classical")
    choose(items["Placement"], "Overwrite: make room on this track (asks first)")
    items["Length"].Text = "20"
    items["ServerUrl"].Text = server.url
    dialog.on_run(None)
    wait(dialog)
    confirm = dialog.disp.windows[-1]
    assert confirm.props["ID"] == "ShotForgeConfirm" and confirm.shown
    text = confirm.GetItems()["ConfirmText"].Text
    assert "'B' on V1" in text and "shortened" in text
    assert not items["Run"].Enabled  # nothing else runs while the question is open
    confirm.On.KeepTimeline.Clicked(None)
    assert not confirm.shown and items["Run"].Enabled
    assert "Nothing was placed" in items["Status"].Text and "render is kept at" in items["Status"].Text
    assert timeline.snapshot() == before
    # asked again; before the editor answers, they put clip C in the range: the yes was not to C
    dialog.on_run(None)
    wait(dialog)
    asked = dialog.disp.windows[-1]
    timeline.clip(0, resolve.project.media_pool.all_clips()[0], 200, 44, 4, name="C")
    asked.On.ConfirmOverwrite.Clicked(None)
    again = dialog.disp.windows[-1]
    assert again is not asked and again.shown and "'C' on V1" in again.GetItems()["ConfirmText"].Text
    assert [row[2] for row in timeline.layout(0)] == ["A", "C", "B"]  # nothing placed yet
    # the editor confirms this question: C is removed, B shortened, the extension lands on V1
    again.On.ConfirmOverwrite.Clicked(None)
    assert items["Status"].Text.startswith("Done: placed 1 clip as 'ShotForge extend take 1' (V1 at 10:00:01:15)")
    assert "re-placed from its media" in items["Status"].Text
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (40, 60, "ShotForge extend take 1"),
                                                       (60, 92, "B")]


def test_new_take_and_remove_last_result_buttons(tmp_path, server):
    media = make_media("25", tmp_path / "media")
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(45)
    before = timeline.snapshot()
    dialog = make_dialog(resolve)
    items = dialog.items
    items["NewTakeSeed"].Text = "5"
    dialog.on_new_take(None)
    assert "no ShotForge result on this timeline" in items["Status"].Text
    choose(items["Operation"], "Fill gap")
    choose(items["Engine"], "classical")
    items["ServerUrl"].Text = server.url
    dialog.on_run(None)
    wait(dialog)
    assert items["Status"].Text.startswith("Done: placed 1 clip as 'ShotForge fill gap take 1'")
    items["NewTakePrompt"].Text = "a different bridge"
    dialog.on_new_take(None)
    assert not items["NewTake"].Enabled and items["Cancel"].Enabled
    wait(dialog)
    assert items["Status"].Text.startswith("Done: placed 1 clip as 'ShotForge fill gap take 2'"), items["Status"].Text
    entry = timeline.entries(0)[1]
    assert entry.name == "ShotForge fill gap take 2" and '"seed":5' in entry.markers[0]["customData"]
    assert "a different bridge" in entry.markers[0]["note"]
    dialog.on_remove_last(None)
    assert items["Status"].Text.startswith("Removed 'ShotForge fill gap take 2': 1 clip."), items["Status"].Text
    assert timeline.snapshot() == before
    dialog.on_remove_last(None)
    assert "no ShotForge result" in items["Status"].Text
