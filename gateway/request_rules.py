"""What a request's fields may hold beyond their proto types: one table, stated by the
OpenAPI document and enforced by the request codec, so the two cannot disagree.

Rules are keyed by proto field name and hold for that field in every request message (a new
route's ``market`` or ``order_id`` inherits them): a JSON Schema fragment (``pattern``,
``minLength``/``maxLength``, ``enum``, ``maximum``) that the gateway checks on the raw
parameter or JSON value. A value outside it is a 400 naming the field before any upstream
call; a well-formed value the upstream does not know (a market that is not listed, an order
the caller has not got) is the upstream's 404, unless the field only filters (a history
list's ``market`` and ``positionId``: an empty page). ``MESSAGE_RULES`` and
``MESSAGE_NOT_FOUND`` override the field tables per message. Beside them: the fields a
message requires (present and not empty), and groups of which it needs at least one.
Request enums offer their named values only (the ``*_UNSPECIFIED`` zero is what leaving the
field out means).

The patterns are ASCII by construction: ids are ``[0-9]`` (never ``str.isdigit()``, which
takes ``"²"`` and ``"٣"``), symbols ``[A-Z0-9]``, client ids printable ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mesh_runtime.ascii_digits import ASCII_ID_PATTERN, PERCENT_PATTERN

Schema = dict[str, Any]

MARKET_PATTERN = "^[A-Z0-9]{1,16}-[A-Z0-9]{1,16}$"
ASSET_PATTERN = "^[A-Z0-9]{1,16}$"
# printable ASCII without leading or trailing space (the engine's identifier rule)
PRINTABLE_ID_PATTERN = "^[!-~](?:[ -~]*[!-~])?$"
# API.md: decimals are ASCII decimal strings; a sign, an exponent or other digits are not.
# Every decimal a request carries is a positive amount, so zero is no value either.
DECIMAL_PATTERN = ("^(?:0{0,29}[1-9][0-9]{0,29}(?:\\.[0-9]{1,30})?"
                   "|0{1,30}\\.0{0,29}[1-9][0-9]{0,29})$")
CANDLE_INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"]
MAX_PAGE = 1000  # persistence's history and trades pages

_DECIMAL: Schema = {"pattern": DECIMAL_PATTERN, "maxLength": 61,
                    "description": "a positive ASCII decimal string, e.g. \"141.39\" (on the "
                                   "market's or asset's grid, else 400)"}
_MARKET: Schema = {"pattern": MARKET_PATTERN, "maxLength": 33,
                   "description": "a market symbol such as BTC-PERP; one that is not listed "
                                  "is 404 UNKNOWN_MARKET"}
_ID: Schema = {"pattern": ASCII_ID_PATTERN, "maxLength": 19,
               "description": "a decimal id in ASCII digits"}

FIELD_RULES: dict[str, Schema] = {
    "market": _MARKET,
    "asset": {"pattern": ASSET_PATTERN, "maxLength": 16,
              "description": "an asset symbol such as USD; one that is not listed is 404 "
                             "UNKNOWN_ASSET"},
    "order_id": _ID,
    "trigger_id": _ID,
    "position_id": {**_ID, "description": "an isolated position's id in ASCII digits (the "
                                          "id of the order that opened it); one the caller "
                                          "has not got open is 404 POSITION_NOT_FOUND"},
    "percent": {"pattern": PERCENT_PATTERN, "maxLength": 38,
                "description": "a percentage in (0, 100] with at most 18 decimal places, "
                               "e.g. \"50\" (rounded down to whole lots)"},
    "before": {**_ID, "description": "an id from a previous page: older rows than it"},
    "client_order_id": {"pattern": PRINTABLE_ID_PATTERN, "minLength": 1, "maxLength": 64,
                        "description": "1 to 64 printable ASCII characters"},
    "transaction_id": {"pattern": PRINTABLE_ID_PATTERN, "minLength": 1, "maxLength": 128,
                       "description": "1 to 128 printable ASCII characters"},
    "quantity": _DECIMAL, "price": _DECIMAL, "amount": _DECIMAL, "stop_loss": _DECIMAL,
    "take_profit": _DECIMAL, "trigger_price": _DECIMAL, "limit_price": _DECIMAL,
    "interval": {"enum": CANDLE_INTERVALS},
    "limit": {"maximum": MAX_PAGE},
    "slippage_bps": {"maximum": 9999},
    # sign-in takes anything (a wrong one is 401 after the same bcrypt check as a right one)
    "email": {"maxLength": 254},
    "password": {"maxLength": 1024},
}

# What sign-up takes (a subset of gateway.credentials' check, written without look-arounds
# so JSON Schema tools can generate it): a local part of one 1-64 character atom or up to
# four dotted short ones (at most 64 together), then one to three domain labels and a TLD.
_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SIGNUP_EMAIL_PATTERN = (f"^(?:{_ATOM}{{1,64}}|(?:{_ATOM}{{1,15}}\\.){{1,3}}{_ATOM}{{1,16}})"
                        f"@(?:{_LABEL}\\.){{1,2}}[A-Za-z]{{2,63}}$")

# bcrypt reads 72 bytes; a length in characters says that only per UTF-8 width, so the
# password is 8 to 72 printable ASCII characters, or 36 of at most 2 bytes each, 24 of at
# most 3, 18 of any (no controls). A lone surrogate has no UTF-8 at all: the JSON parser
# refuses it (400 naming the field); a surrogate range here would make the pattern unusable
# to regex engines without them (Rust's: schemathesis dropped it).
SIGNUP_PASSWORD_PATTERN = ("^(?:[ -~]{8,72}|[ -~\\u0080-\\u07ff]{8,36}"
                           "|[ -~\\u0080-\\uffff]{8,24}|[^\\x00-\\x1f\\x7f]{8,18})$")

# The history lists' ``market`` and ``positionId`` are filters: a well-formed value the
# caller has no rows of is an empty page, never a 404 (persistence_svc.history_filters).
HISTORY_LISTS = tuple(f"trademesh.v1.{name}Request" for name in (
    "ListOrderHistory", "ListFills", "ListClosedPositions", "ListFundingPayments",
    "ListLedger", "ListLiquidations"))
_HISTORY_FILTERS: dict[str, Schema] = {
    "market": {**_MARKET, "description": "a market symbol such as BTC-PERP, to list only "
                                         "its rows (one the caller has no rows of gives an "
                                         "empty page)"},
    "position_id": {**_ID, "description": "an isolated position's id in ASCII digits, to "
                                          "list only its rows (the id of the order that "
                                          "opened it; leading zeros are ignored; one the "
                                          "caller has not got gives an empty page)"},
}

# Per message: overrides of FIELD_RULES (sign-up states the email and password policy; a
# new asset's symbol and decimals are the registry's rules, engine_svc.core.registry; the
# history lists' filters).
MESSAGE_RULES: dict[str, dict[str, Schema]] = {
    **{name: _HISTORY_FILTERS for name in HISTORY_LISTS},
    "trademesh.v1.AddAssetRequest": {
        "symbol": {"pattern": "^[A-Z][A-Z0-9]{0,11}$", "maxLength": 12,
                   "description": "a new asset's symbol: a capital letter, then up to 11 "
                                  "capitals or digits (one in use is 409)"},
        "decimals": {"maximum": 18, "description": "decimal places of its minor unit, 0-18"},
    },
    "trademesh.v1.SignupRequest": {
        "email": {"pattern": SIGNUP_EMAIL_PATTERN, "maxLength": 254,
                  "description": "an email address (compared without case)"},
        "password": {"pattern": SIGNUP_PASSWORD_PATTERN, "minLength": 8, "maxLength": 72,
                     "description": "8 characters that fit bcrypt's 72 bytes in UTF-8: up "
                                    "to 72 printable ASCII ones, 36 of 2 bytes (Latin, "
                                    "Greek, Cyrillic, ...), 24 of 3 (the rest of the BMP), "
                                    "18 of any"},
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "trademesh.v1.PlaceOrderRequest": ("market", "side", "type", "quantity"),
    "trademesh.v1.QuoteOrderRequest": ("market", "side", "quantity"),
    "trademesh.v1.DepositRequest": ("asset", "amount", "transaction_id"),
    "trademesh.v1.WithdrawRequest": ("asset", "amount"),
    "trademesh.v1.SetIndexPriceRequest": ("price",),
    "trademesh.v1.SignupRequest": ("email", "password"),
    "trademesh.v1.GetCandlesRequest": ("interval",),
    "trademesh.v1.AddAssetRequest": ("symbol",),
}

AT_LEAST_ONE: dict[str, tuple[str, ...]] = {
    "trademesh.v1.ReplaceOrderRequest": ("price", "quantity"),
    "trademesh.v1.UpdateMarketRequest": ("status", "maker_fee_bps", "taker_fee_bps",
                                         "max_leverage"),
}


# Fields naming something that may not exist: a well-formed unknown one is a 404.
NOT_FOUND_FIELDS: dict[str, str] = {
    "market": "UNKNOWN_MARKET: no market has this symbol",
    "asset": "UNKNOWN_ASSET: no asset has this symbol",
    "order_id": "ORDER_NOT_FOUND: the caller has no order with this id",
    "client_order_id": "ORDER_NOT_FOUND: the caller has no live order with this clientOrderId",
    "position_id": "POSITION_NOT_FOUND: the caller has no open isolated position with this "
                   "id in this market",
}
# Per message: its own table instead (the history lists' fields are filters: no 404).
MESSAGE_NOT_FOUND: dict[str, dict[str, str]] = {name: {} for name in HISTORY_LISTS}


# A request body that works on a fresh mesh with a funded account (the built-in markets'
# grids), shown in the document: a reader's starting point, and the one order schemathesis'
# examples phase places, so its stateful checks have a real order to follow the links of.
EXAMPLES: dict[str, dict[str, Any]] = {
    "trademesh.v1.PlaceOrderRequest": {"market": "SOL-USD", "side": "BUY", "type": "LIMIT",
                                       "quantity": "1", "price": "1", "timeInForce": "GTC",
                                       "clientOrderId": "example-1"},
}


def field_rule(message: Any, field: Any) -> Schema:
    """The rule fragment for ``field`` of request ``message`` (empty when it has none)."""
    override = MESSAGE_RULES.get(message.full_name, {}).get(field.name)
    return dict(override if override is not None else FIELD_RULES.get(field.name, {}))


def not_found(message: Any) -> list[str]:
    """Why a well-formed request ``message`` may be a 404, one text per field (by name)."""
    table = MESSAGE_NOT_FOUND.get(message.full_name, NOT_FOUND_FIELDS)
    return [table[name] for name in sorted(f.name for f in message.fields) if name in table]


def required_fields(message: Any) -> tuple[str, ...]:
    return REQUIRED.get(message.full_name, ())


def at_least_one(message: Any) -> tuple[str, ...]:
    return AT_LEAST_ONE.get(message.full_name, ())


def violation(rule: Mapping[str, Any], value: object) -> str | None:
    """What is wrong with ``value`` under ``rule``, or None when it conforms."""
    if "enum" in rule and value not in rule["enum"]:
        return "must be one of " + ", ".join(map(str, rule["enum"]))
    if isinstance(value, str):
        if len(value) < rule.get("minLength", 0):
            return f"must be at least {rule['minLength']} characters"
        if "maxLength" in rule and len(value) > rule["maxLength"]:
            return f"must be at most {rule['maxLength']} characters"
        if "pattern" in rule and compiled_pattern(rule["pattern"]).search(value) is None:
            return _expected(rule)
    elif isinstance(value, int) and "maximum" in rule and value > rule["maximum"]:
        return f"must be at most {rule['maximum']}"
    return None


def _expected(rule: Mapping[str, Any]) -> str:
    """What a value that misses the rule's pattern should have been, in words: the rule's
    description up to its first ``;``, without a closing parenthetical ("must be a positive
    ASCII decimal string, e.g. "141.39""); the pattern itself when there is none (the
    OpenAPI document states every pattern)."""
    description = _outside_parentheses_before(str(rule.get("description", "")), ";").strip()
    if description.endswith(")"):  # drop the closing parenthetical, nested ones included
        depth = 0
        for i in range(len(description) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(description[i], 0)
            if depth == 0:
                description = description[:i].rstrip()
                break
    return f"must be {description}" if description else f"must match {rule['pattern']}"


def _outside_parentheses_before(text: str, mark: str) -> str:
    """``text`` up to the first ``mark`` that is not inside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == mark and depth == 0:
            return text[:i]
    return text


_PATTERNS: dict[str, re.Pattern[str]] = {}


def compiled_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern as JSON Schema reads it (ECMA-262; ours are ASCII-only, so ``$`` is the
    end of the text, never before a final newline)."""
    found = _PATTERNS.get(pattern)
    if found is None:
        source = pattern[:-1] + "\\Z" if pattern.endswith("$") else pattern
        found = _PATTERNS[pattern] = re.compile(source, re.ASCII)
    return found
