"""What a media file IS, told from its first bytes, and the one FFmpeg demuxer allowed to read it.

FFmpeg, left to guess, opens far more than video files: an HLS playlist (``.m3u8``), an
``ffconcat`` list, an image-sequence pattern or a plain text file (its ``tty`` demuxer renders
text as frames). A playlist or list inside a media root can name files outside it, so guessing
would let a request read anything the server can. :mod:`server.media_probe` therefore opens source
media only through :func:`identify`: the container is recognised from its own signature (never
from the file name, which anyone can choose), it must be one of the containers below, and that
demuxer alone is named to FFmpeg, with only the ``file`` protocol allowed.

Stills are not read: no operation takes a still image as source media yet, so image demuxers
stay off the list.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the demuxers source media may be read with, and what an editor calls each container
ALLOWED = {
    "mov": "QuickTime/MP4 (.mov, .mp4, .m4v)",
    "mxf": "MXF",
    "avi": "AVI",
    "matroska": "Matroska/WebM (.mkv, .webm)",
    "mpegts": "MPEG transport stream (.ts, .m2ts, .mts)",
    "mpeg": "MPEG program stream (.mpg, .vob)",
}

def open_options(demuxer: str) -> dict[str, str]:
    """FFmpeg options for every source open: local files only, this demuxer only, and QuickTime's
    external data references (which can name any other file) left off."""
    options = {"protocol_whitelist": "file", "format_whitelist": demuxer}
    if demuxer == "mov":
        options["enable_drefs"] = "0"
    return options


_HEAD = 64 * 1024  # MXF allows a run-in of up to 64 KiB before its header partition
_QUICKTIME_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"junk"}
_MXF_PARTITION = bytes.fromhex("060e2b34020501010d010201")  # header partition pack key (SMPTE 377)
_STILLS = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
           (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"v/1\x01", "an OpenEXR image"),
           (b"SDPX", "a DPX image"), (b"XPDS", "a DPX image"), (b"GIF8", "a GIF image"),
           (b"BM", "a BMP image"))


@dataclass(frozen=True)
class Container:
    """``demuxer`` is the FFmpeg demuxer to use, or None when the file must not be read;
    ``what`` says what the file is, in words ("an HLS playlist", "QuickTime/MP4")."""

    demuxer: str | None
    what: str


def identify(path: str) -> Container:
    """Recognise the container of ``path`` from its first bytes (raises OSError if unreadable)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    return identify_bytes(head)


def identify_bytes(head: bytes) -> Container:
    if _is_quicktime(head):
        return Container("mov", ALLOWED["mov"])
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Container("matroska", ALLOWED["matroska"])
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return Container("avi", ALLOWED["avi"])
    if _is_transport_stream(head):
        return Container("mpegts", ALLOWED["mpegts"])
    if head.startswith(b"\x00\x00\x01\xba"):
        return Container("mpeg", ALLOWED["mpeg"])
    if _MXF_PARTITION in head:
        return Container("mxf", ALLOWED["mxf"])
    return Container(None, _refused_kind(head))


def _is_quicktime(head: bytes) -> bool:
    """A QuickTime/ISO file starts with a box: a 32-bit size (1 = 64-bit size follows) and a known type."""
    if len(head) < 8 or head[4:8] not in _QUICKTIME_BOXES:
        return False
    size = int.from_bytes(head[:4], "big")
    return size == 1 or size >= 8 or (size == 0 and head[4:8] == b"mdat")


def _is_transport_stream(head: bytes) -> bool:
    """188-byte packets (or 192-byte M2TS ones, with a 4-byte timestamp first), each starting 0x47."""
    for offset, packet in ((0, 188), (4, 192)):
        if len(head) >= offset + 2 * packet + 1 and all(head[offset + n * packet] == 0x47 for n in range(3)):
            return True
    return False


def _refused_kind(head: bytes) -> str:
    """What a file we will not read is, as precisely as its first bytes tell."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U") or text.startswith(b"#EXT-X-"):
        return "an HLS playlist"
    if text.startswith(b"ffconcat"):
        return "an ffconcat list"
    if text[:5].lower() == b"<?xml" or text[:4] == b"<MPD" or text[:21] == b"<SmoothStreamingMedia":
        return "an XML document (a streaming manifest or an edit list)"
    for magic, name in _STILLS:
        if head.startswith(magic):
            return name + " (stills are not read as source media)"
    if not head:
        return "an empty file"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:  # a character cut at the end of what was read
                return "a text file"
    return "not a video container ShotForge reads (" + ", ".join(ALLOWED.values()) + ")"
