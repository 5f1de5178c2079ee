"""AWS's policy evaluation logic for one request within one account.

Given a request (who, which action, on which resource, with which condition keys) and the
policies that apply to it, decide as AWS does: **Allow**, **ExplicitDeny** or **ImplicitDeny**,
and say which statement decided, so that an error message can name it.

The rules, as AWS documents them:

- Every request starts implicitly denied. An explicit ``Deny`` that applies, in any policy,
  wins over every ``Allow`` ("How AWS enforcement code logic evaluates requests",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html).
- Within one account, an ``Allow`` in the principal's identity-based policies **or** in the
  resource's resource-based policy is enough ("Policy evaluation for requests within a single
  account", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html).
- A resource-based policy that names an account (``123456789012`` or
  ``arn:aws:iam::123456789012:root``) *delegates* to that account: it grants nothing by itself,
  the account's identity-based policies must allow ("AWS JSON policy elements: Principal",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
  A ``Deny`` that names an account applies to every principal of it.
- KMS keys (and role trust policies, for ``sts:AssumeRole``) are the exception: the key policy
  must allow, directly or by delegating to the account, and then an identity-based policy must
  allow too ("Without permission from the key policy, IAM policies that allow permissions have
  no effect", https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html).
- A VPC endpoint policy, when the request goes through one, must allow as well.
- Conditions (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html):
  operators and keys are AND'ed; the values of one key are OR'ed, and NOR'ed for a negated
  operator. "If the key that you specify in a policy condition is not present in the request
  context, the values do not match and the condition is false. If the policy condition requires
  that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not
  present, the condition is true", except for ``...IfExists`` (true when the key is absent) and
  ``Null``. ``ForAllValues`` is true when the key is absent or empty; ``ForAnyValue`` is then
  false (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
  ``ArnEquals`` and ``ArnLike`` both match each of the six colon-separated ARN parts
  separately, wildcards included.
- Actions match case-insensitively, resources case-sensitively; ``*`` and ``?`` are wildcards.

Existing evaluators, looked at before writing this one:

- moto's ``moto/iam/access_control.py`` (5.2.5) checks identity policies only; by its own header
  it lacks resource-based policies and most of ``Condition``; its wildcard is ``*`` only (no
  ``?``), actions match case-sensitively, and an ``Allow`` whose condition fails is answered
  ``DENIED`` instead of not applying. ``policy_validation.py`` validates syntax, it does not
  decide. Neither can serve.
- PyPI: ``principalmapper`` (pmapper) has a local simulator with conditions and resource
  policies, but it is AGPL-3.0, unreleased since 2022, and built around its own graph model;
  ``policyuniverse``, ``parliament``, ``policy-sentry``, ``cloudsplaining`` and ``policyglass``
  parse, lint or summarise policies without deciding one request; ``iam-ape`` flattens a
  principal's permissions from an account dump. The most complete simulator found,
  ``@cloud-copilot/iam-simulate``, is TypeScript on npm: calling Node for every AWS call of
  every handler is not a fit for an in-process emulator.
- So this is the project's own code, kept to what one account needs, and tested case by case
  against the pages above (tests/unit/test_iam_evaluation.py).

Not modelled (each raises ``PolicyError`` when a policy uses it, rather than guessing):
policy variables (``${aws:username}``), the IP-address and binary condition operators.
Cross-account requests, permissions boundaries, session policies, SCPs and RCPs are out of
scope: the local stack has one account and none of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

ContextValue = str | bool | int | float | Sequence[str]


class PolicyError(ValueError):
    """A policy this evaluator cannot read: malformed, or using an unsupported element."""


class Decision(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class PolicyKind(Enum):
    """The kinds of policy a request meets, named as AWS names them in its error messages."""

    IDENTITY = "identity-based"
    RESOURCE = "resource-based"
    ENDPOINT = "VPC endpoint"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: a session of an IAM role, or an AWS service acting on its own."""

    role_arn: str | None = None
    session_name: str = ""
    service: str | None = None

    def __post_init__(self) -> None:
        if (self.role_arn is None) == (self.service is None):
            raise ValueError("a principal is either a role session or a service")
        if self.role_arn is not None and not _ROLE_ARN.fullmatch(self.role_arn):
            raise ValueError(f"not an IAM role ARN: {self.role_arn}")

    @classmethod
    def role_session(cls, role_arn: str, session_name: str) -> Principal:
        return cls(role_arn=role_arn, session_name=session_name)

    @classmethod
    def aws_service(cls, service: str) -> Principal:
        """A service principal such as ``events.amazonaws.com``."""
        return cls(service=service)

    @property
    def account(self) -> str | None:
        """The account of a role session; a service principal belongs to no account."""
        return None if self.role_arn is None else self.role_arn.split(":")[4]

    @property
    def arn(self) -> str:
        """The ARN AWS names in its messages: the assumed-role session, or the service."""
        if self.role_arn is None:
            assert self.service is not None  # __post_init__: one of the two is set
            return self.service
        role_name = self.role_arn.rsplit("/", 1)[1]
        return f"arn:aws:sts::{self.account}:assumed-role/{role_name}/{self.session_name}"


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization request: ``principal`` performs ``action`` on ``resource``.

    ``context`` holds the condition keys the request carries. Key names are case-insensitive
    in AWS, so they are kept lower-cased; every value is kept as a tuple of strings
    (``True`` becomes ``("true",)``), a multi-valued key holding several.
    """

    principal: Principal
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    _keys: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = {name.lower(): _as_strings(value) for name, value in self.context.items()}
        object.__setattr__(self, "_keys", keys)

    def values(self, key: str) -> tuple[str, ...] | None:
        """The values of condition key ``key``, or ``None`` when the request does not carry it."""
        return self._keys.get(key.lower())


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Where a statement sits: its policy's name, its ``Sid`` (if any) and its position."""

    policy: str
    sid: str | None
    index: int

    def __str__(self) -> str:
        which = f"statement {self.sid!r}" if self.sid else f"statement #{self.index + 1}"
        return f"{which} of {self.policy}"


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy document, parsed (and so checked) once, with the name error messages use."""

    name: str
    document: Mapping[str, Any]
    statements: tuple[_Statement, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = self.document.get("Statement")
        if raw is None:
            raise PolicyError(f"{self.name}: no Statement")
        listed = raw if isinstance(raw, list) else [raw]
        parsed = tuple(_Statement.parse(self.name, index, body) for index, body in enumerate(listed))
        object.__setattr__(self, "statements", parsed)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on one request, with the statement that made it (when one did)."""

    decision: Decision
    request: Request
    kind: PolicyKind
    statement: StatementRef | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    def message(self) -> str:
        """AWS's wording for a denial, naming the statement that decided; for an allow, which one allowed."""
        request = self.request
        head = (
            f"User: {request.principal.arn} is not authorized to perform: {request.action} "
            f"on resource: {request.resource}"
        )
        if self.decision is Decision.ALLOW:
            return f"{request.principal.arn} may perform {request.action} on {request.resource}: {self.statement}"
        if self.decision is Decision.EXPLICIT_DENY:
            return f"{head} with an explicit deny in a {self.kind.value} policy: {self.statement}"
        return f"{head} because no {self.kind.value} policy allows the {request.action} action"


# -- the decision ------------------------------------------------------------------------------

# Services whose resource-based policy must allow, directly or by delegating to the account:
# KMS key policies and IAM role trust policies.
_RESOURCE_POLICY_REQUIRED = frozenset({"kms", "sts"})


def evaluate(
    request: Request,
    *,
    identity: Sequence[Policy] = (),
    resource: Policy | None = None,
    endpoint: Policy | None = None,
) -> Verdict:
    """Decide ``request`` against the principal's ``identity`` policies, the resource's
    ``resource`` policy and, when the request goes through a VPC endpoint, its ``endpoint`` policy."""
    if request.principal.service is not None and identity:
        raise ValueError("a service principal has no identity-based policies")

    applicable = [
        *((PolicyKind.IDENTITY, policy) for policy in identity),
        *(
            (kind, policy)
            for kind, policy in ((PolicyKind.RESOURCE, resource), (PolicyKind.ENDPOINT, endpoint))
            if policy
        ),
    ]
    for kind, policy in applicable:
        denied = _first(policy, "Deny", request, kind, accept_account=True)
        if denied is not None:
            return Verdict(Decision.EXPLICIT_DENY, request, kind, denied)

    if endpoint is not None and _first(endpoint, "Allow", request, PolicyKind.ENDPOINT) is None:
        return Verdict(Decision.IMPLICIT_DENY, request, PolicyKind.ENDPOINT)

    direct = None if resource is None else _first(resource, "Allow", request, PolicyKind.RESOURCE)
    if direct is not None:
        return Verdict(Decision.ALLOW, request, PolicyKind.RESOURCE, direct)

    if _service_of(request.action) in _RESOURCE_POLICY_REQUIRED:
        delegates = resource is not None and _first(
            resource, "Allow", request, PolicyKind.RESOURCE, accept_account=True
        )
        if not delegates:
            return Verdict(Decision.IMPLICIT_DENY, request, PolicyKind.RESOURCE)

    for policy in identity:
        allowed = _first(policy, "Allow", request, PolicyKind.IDENTITY)
        if allowed is not None:
            return Verdict(Decision.ALLOW, request, PolicyKind.IDENTITY, allowed)
    # A service principal has no identity to be granted anything: only a resource policy could.
    missing = PolicyKind.RESOURCE if request.principal.service is not None else PolicyKind.IDENTITY
    return Verdict(Decision.IMPLICIT_DENY, request, missing)


def _first(
    policy: Policy, effect: str, request: Request, kind: PolicyKind, *, accept_account: bool = False
) -> StatementRef | None:
    """The first statement of ``policy`` with ``effect`` that applies to ``request``.

    In a resource or endpoint policy the statement must name the principal; one that names only
    the principal's account applies when ``accept_account`` (a Deny, or a delegation).
    """
    for statement in policy.statements:
        if statement.effect != effect or not statement.covers(request):
            continue
        if kind is not PolicyKind.IDENTITY:
            named = statement.names(request.principal)
            if named is _Named.NO or (named is _Named.ACCOUNT and not accept_account):
                continue
        if statement.conditions_hold(request):
            return statement.ref
    return None


def _service_of(action: str) -> str:
    return action.split(":", 1)[0].lower()


# -- statements --------------------------------------------------------------------------------

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/.+")
_ACCOUNT_ROOT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")


class _Named(Enum):
    """How a statement's principal element relates to the requesting principal."""

    NO = "no"
    ACCOUNT = "account"  # it names the principal's account: a delegation
    YES = "yes"


@dataclass(frozen=True, slots=True)
class _Statement:
    ref: StatementRef
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None  # None: no Resource element (trust policies)
    not_resource: bool
    principals: Mapping[str, tuple[str, ...]] | None  # None: no Principal element (identity policies)
    not_principal: bool
    conditions: tuple[_Condition, ...]

    @classmethod
    def parse(cls, policy: str, index: int, body: Any) -> _Statement:
        if not isinstance(body, Mapping):
            raise PolicyError(f"{policy}: statement #{index + 1} is not an object")
        ref = StatementRef(policy, body.get("Sid") or None, index)
        effect = body.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{ref}: Effect must be Allow or Deny, not {effect!r}")
        actions, not_action = _one_of(ref, body, "Action", "NotAction", required=True)
        resources, not_resource = _one_of(ref, body, "Resource", "NotResource", required=False)
        for pattern in resources or ():
            _refuse_variables(ref, pattern)
        principals, not_principal = _principal_element(ref, body)
        conditions = _conditions(ref, body.get("Condition", {}))
        return cls(
            ref=ref,
            effect=effect,
            actions=actions or (),
            not_action=not_action,
            resources=resources,
            not_resource=not_resource,
            principals=principals,
            not_principal=not_principal,
            conditions=conditions,
        )

    def covers(self, request: Request) -> bool:
        """Whether the action and resource elements cover the request."""
        action_listed = any(_wildcard(pattern, ignore_case=True).fullmatch(request.action) for pattern in self.actions)
        if action_listed == self.not_action:
            return False
        if self.resources is None:
            return True
        resource_listed = any(_wildcard(pattern).fullmatch(request.resource) for pattern in self.resources)
        return resource_listed != self.not_resource

    def names(self, principal: Principal) -> _Named:
        """Whether the principal element applies to ``principal``; absent, it applies to anyone."""
        if self.principals is None:
            return _Named.YES
        named = _names(self.principals, principal)
        if not self.not_principal:
            return named
        # NotPrincipal applies to everyone but the principals it names; AWS spares a role only
        # when its account is listed next to it, and listing the account spares no one else.
        spared = named is _Named.YES and (principal.service is not None or _lists_account(self.principals, principal))
        return _Named.NO if spared else _Named.YES

    def conditions_hold(self, request: Request) -> bool:
        return all(condition.holds(request) for condition in self.conditions)


def _one_of(
    ref: StatementRef, body: Mapping[str, Any], name: str, negated: str, *, required: bool
) -> tuple[tuple[str, ...] | None, bool]:
    if name in body and negated in body:
        raise PolicyError(f"{ref}: both {name} and {negated}")
    if name not in body and negated not in body:
        if required:
            raise PolicyError(f"{ref}: neither {name} nor {negated}")
        return None, False
    key = name if name in body else negated
    return _string_list(ref, key, body[key]), key == negated


def _principal_element(ref: StatementRef, body: Mapping[str, Any]) -> tuple[Mapping[str, tuple[str, ...]] | None, bool]:
    if "Principal" in body and "NotPrincipal" in body:
        raise PolicyError(f"{ref}: both Principal and NotPrincipal")
    key = "Principal" if "Principal" in body else "NotPrincipal" if "NotPrincipal" in body else None
    if key is None:
        return None, False
    value = body[key]
    if value == "*":
        return {"AWS": ("*",)}, key == "NotPrincipal"
    if not isinstance(value, Mapping):
        raise PolicyError(f'{ref}: {key} must be "*" or an object')
    return {kind: _string_list(ref, f"{key}.{kind}", names) for kind, names in value.items()}, key == "NotPrincipal"


def _names(principals: Mapping[str, tuple[str, ...]], principal: Principal) -> _Named:
    for kind, names in principals.items():
        for name in names:
            if name == "*":
                # A wildcard principal is everyone, AWS services included.
                return _Named.YES
            if kind == "Service" and name == principal.service:
                return _Named.YES
            if kind != "AWS" or principal.role_arn is None:
                continue
            if name in (principal.role_arn, principal.arn):
                return _Named.YES
    return _Named.ACCOUNT if _lists_account(principals, principal) else _Named.NO


def _lists_account(principals: Mapping[str, tuple[str, ...]], principal: Principal) -> bool:
    for name in principals.get("AWS", ()):
        root = _ACCOUNT_ROOT.fullmatch(name)
        if (root.group(1) if root else name) == principal.account:
            return True
    return False


def _string_list(ref: StatementRef, element: str, value: Any) -> tuple[str, ...]:
    listed = value if isinstance(value, list) else [value]
    if not listed or not all(isinstance(item, str) for item in listed):
        raise PolicyError(f"{ref}: {element} must be a string or a non-empty list of strings")
    return tuple(listed)


def _refuse_variables(ref: StatementRef, text: str) -> None:
    if "${" in text:
        raise PolicyError(f"{ref}: policy variables are not supported ({text!r})")


@functools.cache
def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` matches any run of characters (``/`` and ``:`` included), ``?`` any one character."""
    parts = ("." if char == "?" else ".*" if char == "*" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# -- conditions --------------------------------------------------------------------------------

Matcher = Callable[[str, str], bool]  # (the request's value, the policy's value) -> match


def _string_equals(value: str, expected: str) -> bool:
    return value == expected


def _string_equals_ignore_case(value: str, expected: str) -> bool:
    return value.casefold() == expected.casefold()


def _string_like(value: str, expected: str) -> bool:
    return _wildcard(expected).fullmatch(value) is not None


def _bool(value: str, expected: str) -> bool:
    return value.lower() == expected.lower()


def _arn_like(value: str, expected: str) -> bool:
    """ArnEquals and ArnLike alike: each of the six ARN parts is matched on its own."""
    got, want = value.split(":", 5), expected.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    return all(_wildcard(pattern).fullmatch(part) is not None for part, pattern in zip(got, want, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    """An ISO 8601 date or an epoch time in seconds, as AWS accepts both."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _compare(parse: Callable[[str], Any], check: Callable[[Any, Any], bool]) -> Matcher:
    def match(value: str, expected: str) -> bool:
        left, right = parse(value), parse(expected)
        return left is not None and right is not None and bool(check(left, right))

    return match


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda left, right: left == right,
    "LessThan": lambda left, right: left < right,
    "LessThanEquals": lambda left, right: left <= right,
    "GreaterThan": lambda left, right: left > right,
    "GreaterThanEquals": lambda left, right: left >= right,
}

# operator -> (matcher, negated)
_OPERATORS: dict[str, tuple[Matcher, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
    **{f"Numeric{name}": (_compare(_number, check), False) for name, check in _ORDERINGS.items()},
    "NumericNotEquals": (_compare(_number, _ORDERINGS["Equals"]), True),
    **{f"Date{name}": (_compare(_date, check), False) for name, check in _ORDERINGS.items()},
    "DateNotEquals": (_compare(_date, _ORDERINGS["Equals"]), True),
}
_SET_OPERATORS = ("ForAnyValue:", "ForAllValues:")


@dataclass(frozen=True, slots=True)
class _Condition:
    """One key under one operator, with the values the policy gives it."""

    operator: str
    key: str
    expected: tuple[str, ...]
    set_operator: str | None  # "ForAnyValue:", "ForAllValues:" or None
    if_exists: bool
    null_check: bool
    matcher: Matcher | None
    negated: bool

    def holds(self, request: Request) -> bool:
        values = request.values(self.key) or ()
        if self.null_check:
            # {"Null": {"key": "true"}}: the key is absent; "false": it is present.
            return any((expected.lower() == "true") != bool(values) for expected in self.expected)
        if not values:
            if self.set_operator is not None:
                return self.set_operator == "ForAllValues:"
            return self.if_exists or self.negated
        outcomes = [self._applies(value) for value in values]
        if self.set_operator == "ForAllValues:":
            return all(outcomes)
        if self.set_operator == "ForAnyValue:":
            return any(outcomes)
        # A single-valued key has one value. Should a request carry several, a positive operator
        # needs one of them to match, a negated one needs none to.
        return all(outcomes) if self.negated else any(outcomes)

    def _applies(self, value: str) -> bool:
        """One request value against the policy's values: any of them (none, when negated)."""
        assert self.matcher is not None  # only a Null check has none, and it never gets here
        matched = any(self.matcher(value, expected) for expected in self.expected)
        return matched != self.negated


def _conditions(ref: StatementRef, block: Any) -> tuple[_Condition, ...]:
    if not isinstance(block, Mapping):
        raise PolicyError(f"{ref}: Condition must be an object")
    parsed = []
    for operator, keys in block.items():
        set_operator = next((prefix for prefix in _SET_OPERATORS if operator.startswith(prefix)), None)
        base = operator.removeprefix(set_operator or "")
        if_exists = base.endswith("IfExists")
        base = base.removesuffix("IfExists")
        null_check = base == "Null"
        if null_check and (if_exists or set_operator):
            raise PolicyError(f"{ref}: {operator} is not a condition operator")
        if not null_check and base not in _OPERATORS:
            raise PolicyError(f"{ref}: the condition operator {operator} is not supported")
        if not isinstance(keys, Mapping):
            raise PolicyError(f"{ref}: {operator} must map condition keys to values")
        matcher, negated = (None, False) if null_check else _OPERATORS[base]
        for key, expected in keys.items():
            values = _as_strings(expected)
            if not values:
                raise PolicyError(f"{ref}: {operator} {key} has no value")
            for value in values:
                _refuse_variables(ref, value)
            parsed.append(_Condition(operator, key, values, set_operator, if_exists, null_check, matcher, negated))
    return tuple(parsed)


def _as_strings(value: Any) -> tuple[str, ...]:
    """Policy and context values as strings: booleans as ``true``/``false``, numbers as written."""
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, str | int | float):
        return (str(value),)
    if isinstance(value, Sequence):
        return tuple(item for entry in value for item in _as_strings(entry))
    raise PolicyError(f"not a condition value: {value!r}")
