"""``google.api.http`` path templates: parsing and matching.

Grammar (from ``google/api/http.proto``)::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

``{field}`` means ``{field=*}``. A ``**`` matches zero or more segments and may only be the
last segment. Matching is per path segment; a variable's value is its segments joined with
``/`` and percent-decoded. :func:`specificity` ranks templates so that a literal segment beats
a variable one at the first position where they differ, like Envoy's transcoder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=@%-]+$")
_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

WILD = "*"
DEEP_WILD = "**"


class TemplateError(ValueError):
    """A path template that does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A field bound to the segments ``start`` .. ``end`` (exclusive; None = to the end)."""

    field_path: str
    start: int
    end: int | None


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A parsed template: one entry per segment (a literal, ``*`` or ``**``) and its variables."""

    source: str
    segments: tuple[str, ...]
    variables: tuple[Variable, ...]
    verb: str

    def match(self, path: str) -> dict[str, str] | None:
        """The variables' values when ``path`` matches, else None. ``path`` is the path as
        sent, still percent-encoded: split first, then decoded once, so ``a%2Fb`` is one
        segment ``a/b`` and ``%2541`` is ``%41`` (never ``A``)."""
        path, verb = _split_verb(path, has_verb=bool(self.verb))
        if verb != self.verb or not path.startswith("/"):
            return None
        parts = path[1:].split("/")
        if not _segments_match(self.segments, parts):
            return None
        values: dict[str, str] = {}
        for var in self.variables:
            end = len(parts) if var.end is None else var.end
            values[var.field_path] = unquote("/".join(parts[var.start:end]))
        return values

    def specificity(self) -> tuple[int, ...]:
        """Smaller is more specific: literal 0, ``*`` 1, ``**`` 2, per segment."""
        rank = {WILD: 1, DEEP_WILD: 2}
        return tuple(rank.get(seg, 0) for seg in self.segments)


def parse_template(source: str) -> PathTemplate:
    """Parses ``source``; raises :class:`TemplateError` naming what is wrong."""
    if not source.startswith("/"):
        raise TemplateError(f"{source!r}: a template starts with '/'")
    body, verb = _split_verb(source, has_verb=True)
    segments: list[str] = []
    variables: list[Variable] = []
    for token in _tokens(body[1:], source):
        if token.startswith("{"):
            variables.append(_parse_variable(token, segments, source))
        else:
            segments.append(_check_segment(token, source))
    if DEEP_WILD in segments[:-1]:
        raise TemplateError(f"{source!r}: '**' must be the last segment")
    return PathTemplate(source, tuple(segments), tuple(variables), verb)


def _tokens(body: str, source: str) -> list[str]:
    """Splits on '/' outside braces, keeping each ``{...}`` as one token."""
    tokens: list[str] = []
    current = ""
    depth = 0
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if depth not in (0, 1):
            raise TemplateError(f"{source!r}: unbalanced or nested braces")
        if char == "/" and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        raise TemplateError(f"{source!r}: unbalanced braces")
    tokens.append(current)
    return tokens


def _parse_variable(token: str, segments: list[str], source: str) -> Variable:
    if not token.endswith("}"):
        raise TemplateError(f"{source!r}: text after a variable in one segment")
    inner = token[1:-1]
    field_path, _, pattern = inner.partition("=")
    if not _FIELD_PATH.match(field_path):
        raise TemplateError(f"{source!r}: bad field path {field_path!r}")
    start = len(segments)
    for part in (pattern or WILD).split("/"):
        segments.append(_check_segment(part, source))
    end = None if segments[-1] == DEEP_WILD else len(segments)
    return Variable(field_path, start, end)


def _check_segment(segment: str, source: str) -> str:
    if segment in (WILD, DEEP_WILD) or _LITERAL.match(segment):
        return segment
    raise TemplateError(f"{source!r}: bad segment {segment!r}")


def _split_verb(path: str, *, has_verb: bool) -> tuple[str, str]:
    colon = path.rfind(":")
    if has_verb and colon > max(path.rfind("/"), path.rfind("}")):
        return path[:colon], path[colon + 1:]
    return path, ""


def _segments_match(pattern: tuple[str, ...], parts: list[str]) -> bool:
    if pattern and pattern[-1] == DEEP_WILD:
        fixed = pattern[:-1]
        if len(parts) < len(fixed):
            return False
        return _fixed_match(fixed, parts[: len(fixed)])
    return len(parts) == len(pattern) and _fixed_match(pattern, parts)


def _fixed_match(pattern: tuple[str, ...], parts: list[str]) -> bool:
    for expected, actual in zip(pattern, parts, strict=True):
        if expected == WILD:
            if actual == "":
                return False
        elif expected != actual and expected != unquote(actual):
            return False
    return True
