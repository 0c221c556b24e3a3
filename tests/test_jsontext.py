"""etl.jsontext writes json.dumps's exact bytes (stored payload text, fingerprints), whichever encoder
does the work, and etl/ reads JSON text only through it (so NaN is never a plain float)."""

from __future__ import annotations

import ast
import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from etl import jsontext
from etl.jsontext import NonFinite, compact, loads, sorted_ascii

ETL = Path(__file__).resolve().parent.parent / "etl"


def _old_compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _old_sorted(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def _outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", encode(value)
    except (ValueError, TypeError, UnicodeError) as exc:
        return "error", type(exc)


_CHARS = [chr(c) for c in range(0, 0x250)] + list("\u2028\u2029\ufeff\uffff\u00e9\u4e2d😀\U0010ffff")


def _float(rng: random.Random) -> float:
    pick = rng.random()
    if pick < 0.3:
        value: float = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        return value if math.isfinite(value) else 0.5
    if pick < 0.6:
        return rng.random() * 10 ** rng.randint(-12, 25) * rng.choice((1, -1))
    return round(rng.random(), rng.randint(0, 6))


def _string(rng: random.Random) -> str:
    pieces = ["0.0000", "1e-5", "e-", ":1e-5,", "re-run", "1e-4a3b"]
    text = "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, 12)))
    return text + rng.choice(pieces) if rng.random() < 0.3 else text


def _value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.random()
    if depth < 4 and pick < 0.25:
        return {_string(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    if depth < 4 and pick < 0.4:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if pick < 0.6:
        return _float(rng)
    if pick < 0.75:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**70), rng.getrandbits(40)])
    if pick < 0.9:
        return _string(rng)
    return rng.choice([None, True, False])


def test_both_texts_are_json_dumps_bytes_for_random_json_values() -> None:
    rng = random.Random(14)
    for _ in range(4000):
        value = {"id": _string(rng), "v": _value(rng)}
        assert _outcome(compact, value) == _outcome(_old_compact, value), value
        assert _outcome(sorted_ascii, value) == _outcome(_old_sorted, value), value


@pytest.mark.parametrize(
    "value",
    [
        {"f": 1e-5, "g": 2.5e-7, "h": 9.99e-5, "i": -3e-9, "j": 1e-10, "k": 1e-4, "l": 1e16, "m": 1e22},
        [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.0],
        {"x": "\x7f", "y": "caf\u00e9 😀", "z": '\u0000\u001f\\"/', "\u00e9": 1, "a": 2},
        {"big": 2**64, "neg": -(2**64)},
        {"lone": "\ud800"},  # orjson refuses a lone surrogate: json's result (an error for compact)
        {"nf": NonFinite("nan"), "inf": NonFinite("inf")},
        {1: "non-string key"},
        {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    ],
)
def test_the_awkward_values_are_written_as_json_writes_them(value: Any) -> None:
    assert _outcome(compact, value) == _outcome(_old_compact, value)
    assert _outcome(sorted_ascii, value) == _outcome(_old_sorted, value)


def test_a_too_deep_value_raises_as_json_dumps_does() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        sorted_ascii(deep)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_read_as_nonfinite_and_written_as_json_writes_them(text: str) -> None:
    value = loads(f'{{"a": [{text}, 1.5, 2]}}')
    number = value["a"][0]
    assert type(number) is NonFinite and not math.isfinite(number)
    assert type(value["a"][1]) is float and value["a"][1] == 1.5
    assert sorted_ascii(value) == _old_sorted(value) == f'{{"a":[{json.dumps(float(text))},1.5,2]}}'.encode()
    with pytest.raises(ValueError):
        compact(value)  # allow_nan=False, as before


def test_the_fast_path_is_taken_for_an_ordinary_payload() -> None:
    """The point of the module: an ordinary payload is written by orjson (not json.dumps)."""
    payload = {"id": "f4999104-0400-416d-b67e-8d24531e96d2", "confidence": 0.0555, "text": "numéro"}
    assert jsontext._floats_agree(compact(payload))
    assert compact(payload) == jsontext.orjson.dumps(payload)


def _json_loads_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "loads"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "json"
    ]


def test_etl_reads_json_text_only_through_jsontext() -> None:
    """A plain float NaN would be written as null by the fast paths: etl/ reads JSON with
    jsontext.loads (NaN → NonFinite). The simulator is a test double of the service, not the loader."""
    offenders = {
        str(path.relative_to(ETL)): lines
        for path in sorted(ETL.rglob("*.py"))
        if "simulator" not in path.parts and path.name != "jsontext.py"
        for lines in [_json_loads_calls(path)]
        if lines
    }
    assert offenders == {}
    assert _json_loads_calls(ETL / "jsontext.py")  # the check finds a call where there is one
