"""Audio given inline on the wire: RFC 2397 ``data:`` URLs and base64 text, checked strictly."""

from __future__ import annotations

import base64
import re
import urllib.parse

from harken.errors import InvalidRequest, UnsupportedMediaType

SUPPORTED_FORMATS = "wav, flac, mp3, mpeg, mpga, m4a, mp4, ogg, oga, opus, webm"
# Media types a data URL may carry besides audio/*; anything else is refused before decoding.
AUDIO_MIME_EXTRAS = frozenset({"video/webm", "video/mp4", "video/ogg", "application/octet-stream"})
BASE64_JUNK = re.compile(r"[^A-Za-z0-9+/=_-]")


def parse_data_url(url: str, *, param: str | None = None) -> tuple[str, bytes]:
    """Split an RFC 2397 ``data:`` URL into (media type, payload bytes).

    The media type is lower-cased without parameters, and empty when the URL names none.
    """
    head, comma, payload = url.strip().partition(",")
    if head[:5].lower() != "data:" or not comma:
        raise InvalidRequest(
            f"{param or 'audio'} is not a data: URL (data:<type>;base64,<data>).", param=param
        )
    fields = [f.strip() for f in head[5:].split(";")]
    mime = fields[0].lower() if "/" in fields[0] else ""
    if any(f.lower() == "base64" for f in fields[1:]):
        # Some clients percent-encode the base64 alphabet ('+' as %2B, '=' as %3D).
        return mime, decode_base64(urllib.parse.unquote(payload), param=param)
    return mime, urllib.parse.unquote_to_bytes(payload)


def decode_base64(text: str, *, param: str | None = None) -> bytes:
    """Decode base64 strictly, tolerating whitespace, missing padding and the urlsafe alphabet."""
    name = param or "audio"
    compact = "".join(text.split())  # MIME base64 breaks lines every 76 characters
    junk = BASE64_JUNK.search(compact)
    if junk:
        raise InvalidRequest(
            f"{name} is not valid base64: unexpected character {junk.group()!r} "
            f"at position {junk.start()}.", param=param,
        )  # fmt: skip
    body = compact.rstrip("=")
    if "=" in body or len(compact) - len(body) > 2 or len(body) % 4 == 1:
        raise InvalidRequest(f"{name} is not valid base64: bad padding or length.", param=param)
    # Alphabet and padding are checked above, so b64decode cannot fail from here.
    body = body.replace("-", "+").replace("_", "/")
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def inline_to_bytes(text: str, param: str | None = None) -> tuple[bytes, str]:
    """A data URL or bare base64 to (bytes, format hint), refusing oversize text before decoding."""
    text = text.strip()
    if text[:5].lower() != "data:":
        return decode_base64(text, param=param), ""
    mime, payload = parse_data_url(text, param=param)
    if mime and not (mime.startswith("audio/") or mime in AUDIO_MIME_EXTRAS):
        raise UnsupportedMediaType(
            f"{param or 'audio'} has media type {mime!r}, which is not audio; "
            f"send audio/* (supported formats: {SUPPORTED_FORMATS}).", param=param,
        )  # fmt: skip
    return payload, mime.partition("/")[2]
