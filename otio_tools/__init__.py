"""Pure editorial logic for ShotForge on OpenTimelineIO.

Read a request timeline, find the clip, gap or range it names, plan the frames to make,
and splice a finished result back into the timeline. Time is always frames at a rate
(``RationalTime``/``TimeRange``); nothing here decodes media, imports torch or talks HTTP.
"""

from otio_tools.errors import RequestError
from otio_tools.request import Request, parse_request_json, read_request, request_from_timeline

__all__ = ["RequestError", "Request", "parse_request_json", "read_request", "request_from_timeline"]
