"""The raw payloads as stored: codecs, and reading them back.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    select,
)

from etl import jsontext
from etl.warehouse.schema import (
    classify_job_payloads,
    classify_rule_set_rules,
)
from etl.warehouse.sql import among

#: classify_job_payloads.codec of what encode_payloads writes: raw deflate (wbits -15) with the
#: preset dictionary below. The dictionary is part of the stored format: never change it; a new one
#: needs a new codec name (and decode_payloads keeps reading the old one). The level is not: 6
#: stores a job's pair 0.1% larger than 9 did, in 17% less time.
PAYLOAD_CODEC = "deflate-1"


#: The shape of the two endpoints' payloads (field names and common values, no job's data): deflate
#: refers back to it, so each payload pays for its values, not for the JSON around them.
PAYLOAD_DICTIONARY_1 = (
    b'{"id":"","mode":"FAST","rules":[{"type":"","description":""}],"status":"SUCCESS",'
    b'"user_id":"usr-","created_at":"2025-01-01T00:00:00.000Z","project_id":"","updated_at":"",'
    b'"effective_at":null,"error_message":null,"job_record_id":"jr-","parsing_configuration":'
    b'{"lang":null,"max_pages":null,"target_pages":[]}}{"id":"","result":{"type":null,"reasoning":"",'
    b'"confidence":0.},"status":"COMPLETED","user_id":"usr-","created_at":"","file_input":"",'
    b'"project_id":"","updated_at":"","parse_job_id":"","configuration":{"mode":"FAST","rules":'
    b'[{"type":"","description":""}],"parsing_configuration":{"lang":null,"max_pages":null,'
    b'"target_pages":""}},"error_message":null,"transaction_id":null,"configuration_id":"cfg-",'
    b'"document_input_type":"file_id","usage":{"credits":,"parse_credits":}}'
)


def payload_text(payload: Any) -> bytes:
    """The one serialisation of a raw payload that is stored: compact JSON, UTF-8, key order kept.
    Reading it back gives an equal value whose payload_text is the same bytes."""
    return jsontext.compact(payload)


def _compress_pair(v1_raw: Any, v2_raw: Any, wbits: int, dictionary: bytes) -> bytes:
    """``[v1,v2]`` (null for an absent one) as one stream, so what v2 repeats of v1 (ids, rules,
    configuration) is stored once; ``wbits`` -15: raw deflate, 15: zlib (checksummed)."""
    z = zlib.compressobj(6, zlib.DEFLATED, wbits, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return z.compress(b"[" + payload_text(v1_raw) + b"," + payload_text(v2_raw) + b"]") + z.flush()


def encode_payloads(v1_raw: Any, v2_raw: Any) -> bytes:
    """A job's two payloads as one ``deflate-1`` value (what the loader wrote before 0018)."""
    return _compress_pair(v1_raw, v2_raw, -15, PAYLOAD_DICTIONARY_1)


#: What the loader writes since revision 0018: zlib (RFC 1950: the dictionary's Adler-32 and the
#: data's are checked when read) with PAYLOAD_DICTIONARY_1 followed by rules_dictionary(the job's
#: rules), the rules of classify_job_payloads.rule_set_id. Jobs of one classifier share their rules,
#: which both payloads spell out in full: against the dictionary they cost a back-reference.
#: Part of the stored format, like PAYLOAD_DICTIONARY_1: never change how the dictionary is made.
PAYLOAD_CODEC_RULES = "zlib-rules-1"


def rules_dictionary(rules: Iterable[tuple[str, str]]) -> bytes:
    """(type, description) pairs in position order, as the API spells a rule list (compact JSON,
    description first, UTF-8)."""
    listed = [{"description": d, "type": t} for t, d in rules]
    return jsontext.compact(listed) if listed else b""


def encode_payloads_with_rules(v1_raw: Any, v2_raw: Any, rules: Iterable[tuple[str, str]]) -> bytes:
    """A job's two payloads as one ``zlib-rules-1`` value, compressed against its rules."""
    return _compress_pair(v1_raw, v2_raw, 15, PAYLOAD_DICTIONARY_1 + rules_dictionary(rules))


def decode_payloads(codec: str, data: bytes, rules: Iterable[tuple[str, str]] = ()) -> tuple[Any, Any]:
    """(v1_raw, v2_raw) from a stored value: ``zlib-rules-1`` (``rules``: those of its rule set),
    ``deflate-1``, or ``json-1`` (plain ``[v1, v2]`` text: what an offline ``migrate --sql`` of
    revision 0008 copies, until the job is rewritten). A wrong rule list is an error, not garbage:
    zlib checks the dictionary's checksum."""
    if codec == "json-1":
        v1, v2 = jsontext.loads(bytes(data))
        return v1, v2
    if codec == PAYLOAD_CODEC_RULES:
        z = zlib.decompressobj(15, PAYLOAD_DICTIONARY_1 + rules_dictionary(rules))
    elif codec == PAYLOAD_CODEC:
        z = zlib.decompressobj(-15, PAYLOAD_DICTIONARY_1)
    else:
        raise ValueError(f"unknown payload codec {codec!r}: written by a newer classify-etl?")
    v1, v2 = jsontext.loads(z.decompress(bytes(data)) + z.flush())
    return v1, v2


def rule_set_rules(conn: Connection, rule_set_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """rule set id → its (type, description) pairs in position order."""
    ids = sorted(set(rule_set_ids))
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    if not ids:
        return out
    r = classify_rule_set_rules.c
    for row in conn.execute(
        select(r.rule_set_id, r.type, r.description)
        .where(among(conn, r.rule_set_id, ids))
        .order_by(r.rule_set_id, r.position)
    ):
        out[row.rule_set_id].append((row.type, row.description))
    return out


def stored_payloads(conn: Connection, job_ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """job id → (v1_raw, v2_raw) as stored (None where absent), for these jobs."""
    if not job_ids:
        return {}
    p = classify_job_payloads.c
    rows = conn.execute(
        select(p.job_id, p.codec, p.payloads, p.rule_set_id).where(among(conn, p.job_id, job_ids))
    ).all()
    rules = rule_set_rules(conn, (r.rule_set_id for r in rows if r.rule_set_id is not None))
    return {r.job_id: decode_payloads(r.codec, r.payloads, rules.get(r.rule_set_id, ())) for r in rows}
