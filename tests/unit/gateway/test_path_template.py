"""Path templates: parsing the google.api.http grammar and matching paths."""

from __future__ import annotations

import pytest

from gateway.path_template import TemplateError, Variable, parse_template


def test_literal_segments_with_dashes() -> None:
    template = parse_template("/api/v1/orders/by-client-id/{client_order_id}")
    assert template.segments == ("api", "v1", "orders", "by-client-id", "*")
    assert template.variables == (Variable("client_order_id", 4, 5),)
    assert template.match("/api/v1/orders/by-client-id/abc-1") == {"client_order_id": "abc-1"}


def test_variable_values_are_percent_decoded() -> None:
    template = parse_template("/api/v1/orders/{order_id}")
    assert template.match("/api/v1/orders/a%20b") == {"order_id": "a b"}


def test_nested_field_path_and_sub_pattern() -> None:
    template = parse_template("/v1/{book.name=shelves/*/books/*}")
    assert template.match("/v1/shelves/s1/books/b2") == {"book.name": "shelves/s1/books/b2"}
    assert template.match("/v1/shelves/s1/tapes/b2") is None


def test_deep_wildcard_matches_the_rest() -> None:
    template = parse_template("/files/{path=**}")
    assert template.match("/files/a/b/c") == {"path": "a/b/c"}
    assert template.match("/files") == {"path": ""}


def test_single_wildcard_without_a_variable() -> None:
    template = parse_template("/a/*/c")
    assert template.match("/a/x/c") == {}
    assert template.match("/a//c") is None


def test_verb_suffix() -> None:
    template = parse_template("/v1/{name}:cancel")
    assert template.verb == "cancel"
    assert template.match("/v1/o1:cancel") == {"name": "o1"}
    assert template.match("/v1/o1") is None


def test_length_mismatch_does_not_match() -> None:
    template = parse_template("/api/v1/orders/{order_id}")
    assert template.match("/api/v1/orders") is None
    assert template.match("/api/v1/orders/1/extra") is None
    assert template.match("/api/v1/orders/") is None


def test_specificity_ranks_literals_first() -> None:
    literal = parse_template("/api/v1/orders/quote")
    variable = parse_template("/api/v1/orders/{order_id}")
    deep = parse_template("/api/v1/orders/**")
    assert literal.specificity() < variable.specificity() < deep.specificity()


@pytest.mark.parametrize("source", [
    "api/v1", "/a/{b", "/a/{b}}", "/a/{1b}", "/a/**/b", "/a/b c", "/a/{x{y}}", "/a/{b}c",
])
def test_malformed_templates_are_refused(source: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(source)


@pytest.mark.parametrize(("path", "value"), [
    ("/v1/things/%2541", "%41"),  # decoded once, not twice
    ("/v1/things/a%2Fb", "a/b"),  # an encoded slash stays inside its segment
    ("/v1/things/%C2%B2", "²"),
])
def test_a_sent_path_is_split_then_decoded_once(path: str, value: str) -> None:
    assert parse_template("/v1/things/{id}").match(path) == {"id": value}


def test_an_encoded_literal_still_matches() -> None:
    assert parse_template("/v1/things/{id}").match("/v1/%74hings/7") == {"id": "7"}
