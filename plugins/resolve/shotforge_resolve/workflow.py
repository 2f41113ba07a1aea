"""One ShotForge run, start to finish, without any UI: read the context, export the request,
send it, follow the job, place the result. The dialog (ui.py) drives the same steps."""

import os

from . import settings as settings_mod
from .client import Client, check_finished, wait_for_job
from .context import OPERATION_NAMES, TimelineInfo, build_metadata, export_request, read_target
from .errors import PlacementError
from .place import place


class Run(object):
    """The steps of one run, each callable on its own (the dialog polls between them)."""

    def __init__(self, resolve, options, client=None, workdir=None):
        self.resolve = resolve
        self.options = dict(settings_mod.DEFAULTS)
        self.options.update(options or {})
        self.client = client or Client(self.options.get("server_url"), self.options.get("token") or None)
        self.workdir = workdir or os.path.join(settings_mod.config_dir(), "requests")
        self.info = None
        self.target = None
        self.meta = None
        self.request_path = None
        self.job_id = None
        self.timeline_id = None

    def read_context(self):
        """Check the timeline fits the operation; raises ContextError with the reason."""
        self.info = TimelineInfo(self.resolve)
        self.timeline_id = self.info.timeline.GetUniqueId()
        self.target = read_target(self.info, self.options)
        self.meta = build_metadata(self.info, self.target, self.options)
        return self.describe()

    def describe(self):
        meta, info = self.meta, self.info
        name = OPERATION_NAMES[meta["operation"]]
        if meta["operation"] == "extend":
            name += " {} by {} frames".format(meta["side"], meta["frames"])
        if meta["operation"] == "generate":
            first, last = meta["range"]
            where = "{} to {} ({} frames)".format(info.tc(first), info.tc(last), last - first)
        else:
            where = "at {}".format(info.tc(meta["frame"]))
        what = ""
        if self.target.clip:
            what = " on '{}'".format(self.target.clip["name"])
        elif self.target.gap:
            what = " in the {}-frame gap".format(self.target.gap[1] - self.target.gap[0])
        return "{}{} on V{} {}".format(name, what, meta["track"] + 1, where)

    def ensure_server(self):
        log = os.path.join(settings_mod.config_dir(), "server.log")
        shotforge = self.options.get("shotforge_path") or None
        if shotforge and not os.path.isdir(os.path.dirname(log)):
            os.makedirs(os.path.dirname(log))
        return self.client.ensure_running(shotforge, log_path=log if shotforge else None)

    def submit(self):
        """Export the timeline as OTIO with the request in its metadata and POST it."""
        self.request_path, data = export_request(self.info, self.meta, self.workdir)
        self.job_id = self.client.submit(data)
        return self.job_id

    def finish(self, record):
        """Place a finished job's result; raises for a failed or canceled job (timeline untouched)."""
        record = check_finished(record)
        current = self.info.project.GetCurrentTimeline()
        if not current or current.GetUniqueId() != self.timeline_id:
            raise PlacementError("The current timeline changed while the job ran; switch back to "
                                 "'{}' and run ShotForge again.".format(self.info.name))
        result = record.get("result") or {}
        return place(self.info, result.get("placements"))


def run(resolve, options, client=None, on_update=None, should_cancel=None, workdir=None,
        poll_interval=0.3, use_sse=True, timeout=None):
    """Do one operation end to end. Returns a dict {description, job, placed, request}.

    Raises a ShotForgeError subclass (ContextError, ServerDownError, ServerError, JobFailed,
    JobCanceled, PlacementError) whose message is what the editor should read.
    """
    job = Run(resolve, options, client=client, workdir=workdir)
    description = job.read_context()
    job.ensure_server()
    job.submit()
    record = wait_for_job(job.client, job.job_id, on_update=on_update, should_cancel=should_cancel,
                          poll_interval=poll_interval, use_sse=use_sse, timeout=timeout)
    placed = job.finish(record)
    return {"description": description, "job": record, "placed": placed, "request": job.request_path}
