"""ShotForge inside DaVinci Resolve: the logic behind Workspace > Scripts > ShotForge.

Stdlib only (Resolve's Python 3.6+). ``workflow.run`` does one operation end to end without UI;
``ui.main`` is the dialog. Modules: timecode (rates, drop-frame), context (what the playhead is
on, the request), client (HTTP, progress, cancel), place (media pool + AppendToTimeline),
settings (remembered dialog values).
"""

__version__ = "0.1.0"
