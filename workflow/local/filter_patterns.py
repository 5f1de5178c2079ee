"""CloudWatch Logs metric filter patterns on JSON log events, as CloudWatch Logs evaluates them.

The pattern language for JSON events (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):
``{ $.type = "ExecutionFailed" && ($.details.error = "A" || $.details.error = "B") }``:
selectors ``$.a.b`` (and ``$.a[0]``), the operators ``=``, ``!=`` (strings and numbers, ``*`` as a
wildcard in strings) and ``<``, ``<=``, ``>``, ``>=`` (numbers), combined with ``&&``, ``||`` and
parentheses. A selector that names nothing in the event makes its comparison false. Anything
else of the language (``IS NULL``, ``NOT EXISTS``, term and space-delimited patterns) raises
``PatternError`` when the pattern is read, so a filter the emulator cannot evaluate is refused
instead of never matching.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Predicate = Callable[[Any], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | (?P<selector>\$(?:\.[A-Za-z0-9_-]+|\[\d+\])*)
      | "(?P<quoted>(?:[^"\\]|\\.)*)"
      | (?P<bare>[^\s()&|=!<>"]+)
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_MISSING = object()
_ORDERING: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class PatternError(ValueError):
    """A filter pattern outside the part of the language the emulator evaluates."""


@dataclass(frozen=True, slots=True)
class FilterPattern:
    """A parsed JSON filter pattern; ``matches(message)`` takes a log event's message text."""

    text: str
    _predicate: Predicate

    def matches(self, message: str) -> bool:
        try:
            event = json.loads(message)
        except ValueError:
            return False
        return isinstance(event, dict) and self._predicate(event)

    def matches_event(self, event: Mapping[str, Any]) -> bool:
        """``matches`` for an event already parsed from its JSON message."""
        return self._predicate(event)


def parse(text: str) -> FilterPattern:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise PatternError(f"only JSON filter patterns {{ ... }} are emulated, not {text!r}")
    tokens = _tokens(body[1:-1])
    parser = _Parser(tokens, text)
    predicate = parser.disjunction()
    if parser.position != len(tokens):
        raise PatternError(f"unexpected {tokens[parser.position][1]!r} in filter pattern {text!r}")
    return FilterPattern(text, predicate)


def select(event: Any, selector: str) -> Any:
    """The value ``$.a.b[0]`` names in ``event``; ``_MISSING`` when it names nothing."""
    value = event
    for part in re.findall(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]", selector):
        name, index = part
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise PatternError(f"cannot read filter pattern at {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None  # one alternative always matches
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise PatternError(f"filter pattern {self.text!r} ends too early")
        self.position += 1
        return token

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self._peek() == ("op", "||"):
            self._take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda event: any(term(event) for term in terms))

    def conjunction(self) -> Predicate:
        terms = [self.term()]
        while self._peek() == ("op", "&&"):
            self._take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda event: all(term(event) for term in terms))

    def term(self) -> Predicate:
        kind, value = self._take()
        if (kind, value) == ("op", "("):
            inner = self.disjunction()
            if self._take() != ("op", ")"):
                raise PatternError(f"unbalanced parentheses in filter pattern {self.text!r}")
            return inner
        if kind != "selector":
            raise PatternError(f"expected a $ selector, found {value!r} in filter pattern {self.text!r}")
        op_kind, op = self._take()
        if op_kind != "op" or op not in {"=", "!=", *_ORDERING}:
            raise PatternError(f"operator {op!r} is not emulated (filter pattern {self.text!r})")
        operand_kind, operand = self._take()
        if operand_kind not in {"quoted", "bare"}:
            raise PatternError(f"expected a value after {op}, found {operand!r} in {self.text!r}")
        return _comparison(value, op, operand, quoted=operand_kind == "quoted", text=self.text)


def _comparison(selector: str, op: str, operand: str, *, quoted: bool, text: str) -> Predicate:
    if not quoted and operand.upper() in {"NULL", "TRUE", "FALSE", "EXISTS"}:
        raise PatternError(f"{operand} comparisons are not emulated (filter pattern {text!r})")
    number = None if quoted or not _NUMBER.fullmatch(operand) else float(operand)
    if op in _ORDERING:
        if number is None:
            raise PatternError(f"{op} needs a number, not {operand!r} (filter pattern {text!r})")
        ordering = _ORDERING[op]
        return lambda event: _is_number(found := select(event, selector)) and ordering(float(found), number)
    expected = json.loads(f'"{operand}"') if quoted else operand
    # "*" is the only wildcard of the language.
    wildcard = re.compile(".*".join(re.escape(part) for part in expected.split("*")), re.DOTALL)

    def equal(found: Any) -> bool:
        if number is not None and _is_number(found):
            return float(found) == number
        return isinstance(found, str) and wildcard.fullmatch(found) is not None

    if op == "=":
        return lambda event: (found := select(event, selector)) is not _MISSING and equal(found)
    return lambda event: (found := select(event, selector)) is not _MISSING and not equal(found)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
