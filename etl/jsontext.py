"""JSON text exactly as ``json.dumps`` writes it, at orjson's speed wherever orjson writes the same bytes.

A payload's stored text (``compact``) and its fingerprint's text (``sorted_ascii``) were always
``json.dumps``'s: stored hashes and stored bytes must not change with the encoder. orjson is about
ten times faster and writes the very same bytes for JSON values, but for:

* a float 0 < |x| < 1e-4: json ``1e-05``, orjson ``0.00001`` or ``1e-5``; found in orjson's text
  (``_floats_agree``: a conservative look, a string that merely resembles one costs the slow path);
* NaN and ±Infinity (``1e400`` included): json ``NaN``, orjson ``null``. What this program reads
  from JSON text holds them as ``NonFinite`` (``loads``), a float subclass orjson refuses, so json
  writes them. A plain
  ``float("nan")`` built in Python would be written as ``null`` by the fast path: read JSON with
  ``loads`` here, never ``json.loads`` (``tests/test_jsontext.py`` holds ``etl/`` to that);
* ``ensure_ascii`` (the fingerprint's text): orjson writes UTF-8, turned into json's ``\\uXXXX``
  escapes (lower-case hex, surrogate pairs beyond the BMP, DEL escaped too);
* what orjson refuses (integers beyond 64 bits, lone surrogates, non-string keys, subclasses,
  dates, nesting past 254 levels): json.dumps, as before, with its errors.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

import orjson


class NonFinite(float):
    """NaN or ±Infinity read from JSON text. orjson refuses to write a float subclass, so the fast
    paths fall back to json, which writes ``NaN``/``Infinity`` as it always did."""

    __slots__ = ()


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(value)  # 1e400 reads as infinity


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads``, with NaN and ±Infinity (``NaN``, ``-Infinity``, ``1e400``) read as ``NonFinite``."""
    return json.loads(text, parse_constant=NonFinite, parse_float=_float)


#: orjson refuses, instead of writing its own way, what json would write differently or refuse.
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_SORTED = _STRICT | orjson.OPT_SORT_KEYS


def _floats_agree(out: bytes) -> bool:
    """False if orjson's text may hold a float json writes otherwise (0 < |x| < 1e-4, written by
    orjson as ``0.0000…`` or with a one-digit negative exponent; json writes ``e-05``)."""
    if b"0.0000" in out:
        return False
    at = out.find(b"e-")
    while at >= 0:
        # A one-digit exponent after a digit, ending its number (",", "]", "}" or the end).
        if out[at - 1 : at].isdigit() and out[at + 2 : at + 3].isdigit() and out[at + 3 : at + 4] in _ENDS:
            return False
        at = out.find(b"e-", at + 2)
    return True


_ENDS = (b",", b"]", b"}", b"")


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), error.end


codecs.register_error("etl-json-ascii", _json_escape)


def compact(value: Any) -> bytes:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`` as UTF-8."""
    try:
        out = orjson.dumps(value, option=_STRICT)
        if _floats_agree(out):
            return out
    except orjson.JSONEncodeError:
        pass
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sorted_ascii(value: Any) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)`` as bytes (ASCII)."""
    try:
        out = orjson.dumps(value, option=_SORTED)
        if _floats_agree(out):
            if not out.isascii():
                out = out.decode().encode("ascii", "etl-json-ascii")
            return out.replace(b"\x7f", b"\\u007f") if b"\x7f" in out else out
    except orjson.JSONEncodeError:
        pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
