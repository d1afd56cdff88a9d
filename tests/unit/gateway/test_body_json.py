"""The gateway's body decoder (one decoder, UTF-8 unless the bytes say otherwise) reads
every body exactly as ``json.loads(body, object_pairs_hook=...)`` does: the same value, or
the same kind of refusal."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.request_codec import _DuplicateKey, _json, _unique_keys

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
             "utf-32-be"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


def outcome(decode: Any, raw: bytes) -> Any:
    try:
        return ("value", decode(raw))
    except Exception as err:  # the kind of refusal, compared
        return ("error", type(err))


def reference(raw: bytes) -> Any:
    return json.loads(raw, object_pairs_hook=_unique_keys)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=30).map(lambda t: t.encode("utf-8",
                                                                              "surrogatepass")))
def test_any_bytes_decode_as_json_loads_decodes_them(raw: bytes) -> None:
    assert outcome(_json, raw) == outcome(reference, raw)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES, st.sampled_from(ENCODINGS))
def test_json_in_any_encoding_json_loads_reads_decodes_the_same(value: Any,
                                                                encoding: str) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")
    assert outcome(_json, raw) == outcome(reference, raw)


def test_a_repeated_key_is_refused_and_a_plain_body_read() -> None:
    repeated = b'{"price": "1", "price": "9"}'
    assert outcome(_json, repeated) == ("error", _DuplicateKey)
    assert _json(b'{"market": "SOL-USD", "price": "90"}') == {"market": "SOL-USD",
                                                              "price": "90"}
