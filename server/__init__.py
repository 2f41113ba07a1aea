"""ShotForge render server: job queue, media I/O, engines, CLI and watch folder."""


def shotforge_version() -> str:
    """The installed distribution's version (takes, provenance and the API name it)."""
    try:
        from importlib.metadata import version

        return version("shotforge")
    except Exception:
        return "0.1.0"
