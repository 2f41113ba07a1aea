"""ShotForge render server: job queue, media I/O, engines, CLI and watch folder."""
