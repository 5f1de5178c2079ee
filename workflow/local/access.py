"""Permissions evaluated, not assumed: each AWS call of the running stack decided by the template's policies.

The caller of every call is identified positively, never by elimination:

- **a handler**: the access key id its sandbox signs with (``gateway.py``) names the function;
  it calls as the function's role, in a session named after the function, as on Lambda;
- **the state machine's own integrations** (Lambda invokes, ``sns:publish``): moto's interpreter
  signs them with the access key ``ak`` (``moto/stepfunctions/parser/asl/utils/boto_client.py``,
  guarded by a test); they call as the state machine's role;
- **EventBridge delivering to a rule's target** (the engine's hop, ``eventbridge.py``): as
  ``events.amazonaws.com`` for the rule, after assuming the target's role when it names one;
- **the API's AWS integration** (``api.py``): ``apigateway.amazonaws.com`` assumes the
  integration role, which starts and describes executions;
- anyone else in the engine process (tests, ``pipeline run``'s upload, ``pipeline serve``'s
  clients) is the account's administrator and is not checked.

A call is allowed when every check AWS makes for it (``iam.requests.checks_for_call``: the
action, the resource, the condition keys, the KMS key behind an encrypted topic) is allowed by
the caller's role and not denied by a resource policy (``TemplatePolicies.verdict``). A denied
call gets AWS's error for that service (the table below, from AWS's documentation and botocore's
models), and is recorded in ``denials``; a call the model does not map is refused, never let
through (``UnmappedCall``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from workflow.local.interpreter import current_state_machine

from botocore.awsrequest import AWSResponse

from workflow.local import wire
from workflow.local.iam.evaluation import Verdict
from workflow.local.iam.requests import Caller, Check, UnmappedCall, checks_for_call, role_assumption
from workflow.local.iam.template_policies import TemplatePolicies
from workflow.local.template import TemplateError

# The access key moto's interpreter signs the state machine's integrations with.
STATE_MACHINE_ACCESS_KEY = "ak"
EVENTS_SERVICE = "events.amazonaws.com"
API_GATEWAY_SERVICE = "apigateway.amazonaws.com"
# The reads whose "no such key" S3 tells only a caller that may list the bucket (the API
# reference of each: "If the object you request doesn't exist, the error that Amazon S3 returns
# depends on whether you also have the s3:ListBucket permission").
ABSENCE_CONCEALED = frozenset({"GetObject", "HeadObject"})

# (service, service asking KMS for the caller) -> (HTTP status, error code) of a denial, as the
# caller's SDK receives it: S3 403 AccessDenied; SNS 403 AuthorizationError, or 400
# KMSAccessDenied when KMS refused SNS the topic's data key; SQS 403 AccessDenied, or 400
# KMS.AccessDeniedException; Step Functions, KMS 400 and Lambda 403 AccessDeniedException.
_DENIALS: Mapping[tuple[str, str | None], tuple[int, str]] = {
    ("s3", None): (403, "AccessDenied"),
    ("sns", None): (403, "AuthorizationError"),
    ("sns", "sns"): (400, "KMSAccessDenied"),
    ("sqs", None): (403, "AccessDenied"),
    ("sqs", "sqs"): (400, "KMS.AccessDeniedException"),
    ("stepfunctions", None): (400, "AccessDeniedException"),
    ("kms", None): (400, "AccessDeniedException"),
    ("lambda", None): (403, "AccessDeniedException"),
}


@dataclass(frozen=True, slots=True)
class Denial:
    """One call refused, as CloudTrail would record it: who, what, on which resource, why."""

    principal: str
    service: str
    operation: str
    action: str
    resource: str
    code: str
    message: str


class Access:
    """The template's policies applied to the running environment's callers."""

    def __init__(
        self, policies: TemplatePolicies, *, state_machine_arn: str, other_state_machines: tuple[str, ...] = ()
    ) -> None:
        self.policies = policies
        self._state_machine_arn = state_machine_arn
        # Every state machine of the template is judged: one whose role the policies do not know (a
        # name resolved two ways) stops the environment here, instead of going unjudged.
        self._template_machines = (state_machine_arn, *other_state_machines)
        unknown = [arn for arn in self._template_machines if arn not in policies.state_machine_roles]
        if unknown:
            raise TemplateError(f"the policies know no role of the template's state machines {unknown}")
        self._lock = threading.Lock()
        self.denials: list[Denial] = []
        # Which ListBucket grants let a caller learn that a key is absent (``_absence_denial``: a
        # handler's read, and a state machine's own).
        # True: a grant whose s3:prefix condition covers the key, as Ceph's gateway judges it "to
        # match aws behavior", and as kopia/kopia#3072 found S3 answer a role limited to a prefix.
        # False: only a grant with no s3:prefix condition, the strict reading of AWS's IAM rules (a
        # read carries no s3:prefix), which AWS's documentation does not rule out. Validate,
        # WriteOutput and the backfill's FindVersion, which read keys that may be absent, must work
        # under both (tests set False to prove it); a staged object gone is a system failure under
        # both, under another error name.
        self.key_is_listing_prefix = True

    # -- deciding --------------------------------------------------------------------------------

    def decide(self, caller: Caller, service: str, operation: str, params: Mapping[str, Any]) -> Denial | None:
        """None when ``caller`` may make the call; else the denial (recorded)."""
        checks = checks_for_call(caller, service, operation, params, self.policies.resources)
        return self._first_denial(service, operation, checks)

    def _first_denial(self, service: str, operation: str, checks: tuple[Check, ...]) -> Denial | None:
        denied = self.policies.first_denial(checks)
        if denied is None:
            return None
        check, verdict = denied
        return self._record(service, operation, check, verdict)

    def _record(self, service: str, operation: str, check: Check, verdict: Verdict) -> Denial:
        _, code = _DENIALS.get((service, check.via), (403, "AccessDenied"))
        request = check.request
        denial = Denial(
            principal=request.principal.arn or "",
            service=service,
            operation=operation,
            action=request.action,
            resource=request.resource,
            code=code,
            message=verdict.message(),
        )
        with self._lock:
            self.denials.append(denial)
        return denial

    # -- the callers -----------------------------------------------------------------------------

    def function_call(self, function: str, call: wire.Call) -> wire.Reply | None:
        """The gateway's question for a handler's call: None, or the service's denial."""
        denial = self.decide(self.policies.function_caller(function), call.service, call.operation, call.params)
        if denial is None:
            return None
        status, _ = _status_of(denial)
        return wire.error_reply(call, status, denial.code, denial.message)

    def absence_concealed(self, function: str, call: wire.Call) -> wire.Reply | None:
        """S3's answer to a handler's read of a key that does not exist: None (the 404 stands) when
        the function may list the bucket there, else 403 ``AccessDenied`` (``_absence_denial``)."""
        denial = self._absence_denial(self.policies.function_caller(function), call.operation, call.params)
        if denial is None:
            return None
        return wire.error_reply(call, 403, "AccessDenied", denial.message)

    def _absence_denial(self, caller: Caller, operation: str, params: Mapping[str, Any]) -> Denial | None:
        """Whether S3 hides from ``caller`` that the key its read names does not exist: S3 tells
        that only to a caller with ``s3:ListBucket`` on its bucket (GetObject's and HeadObject's
        API reference, "Permissions"). By default the listing is judged with the key as its
        ``s3:prefix``, so a grant limited to a prefix covers the keys under it: what Ceph's gateway
        does "to match aws behavior" (ceph/ceph#68577, and its s3-tests'
        test_head_object_404_with_policy_prefix), not documented by AWS. With
        ``key_is_listing_prefix`` off, it is judged with no prefix, and only a grant of the whole
        bucket reveals an absence."""
        listing = {"Bucket": params.get("Bucket")}
        if self.key_is_listing_prefix:
            listing["Prefix"] = str(params.get("Key", ""))
        checks = checks_for_call(caller, "s3", "ListObjectsV2", listing, self.policies.resources)
        return self._first_denial("s3", operation, checks)

    def delivery(
        self, rule_arn: str, target_arn: str, service: str, operation: str, params: Mapping[str, Any]
    ) -> Denial | None:
        """EventBridge delivering a rule's event to ``target_arn``: assume its role (if any), then call."""
        caller = self.policies.rule_target_caller(rule_arn, target_arn)
        if caller.principal.role_arn is not None:
            events = Caller.service(EVENTS_SERVICE, source_arn=rule_arn, source_account=self.policies.resources.account)
            assumption = role_assumption(events, caller.principal.role_arn, self.policies.resources)
            denial = self._first_denial("sts", "AssumeRole", (assumption,))
            if denial is not None:
                return denial
        return self.decide(caller, service, operation, params)

    def dead_letter(self, rule_arn: str, queue_url: str) -> Denial | None:
        """EventBridge sending an undeliverable event of ``rule_arn`` to its dead-letter queue."""
        caller = self.policies.dead_letter_caller(rule_arn)
        return self.decide(caller, "sqs", "SendMessage", {"QueueUrl": queue_url, "MessageBody": "event"})

    def api_integration(self, action: str, params: Mapping[str, Any]) -> Denial | None:
        """The REST API's integration assuming its role, then calling Step Functions ``action``."""
        caller = self.policies.api_integration_caller(action)
        assert caller.principal.role_arn is not None  # an AWS integration always names its role
        assumption = role_assumption(
            Caller.service(API_GATEWAY_SERVICE), caller.principal.role_arn, self.policies.resources
        )
        denial = self._first_denial("sts", "AssumeRole", (assumption,))
        return denial or self.decide(caller, "stepfunctions", action, params)

    @contextmanager
    def state_machine_gate(self, session: Any) -> Iterator[None]:
        """Decide the state machines' own calls, made by moto's interpreter on ``session``'s clients,
        each as the role of the state machine whose execution makes it (``current_state_machine``).

        ``before-parameter-build`` is the only event that sees the call's parameters; ``before-call``
        may answer instead of sending. It is registered before the SDK-fault and Lambda hooks run
        (a denied call stays denied: AWS authorizes a request before anything else happens to it).
        ``after-call`` sees the answer: a read of a missing key is answered 403 ``AccessDenied``
        when the role may not learn that (``_absence_denial``), as for a handler's read.
        """

        def stash(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["local_access_params"] = dict(params)

        def gate(model: Any, context: dict[str, Any], request_signer: Any, **_: Any) -> Any:
            credentials = getattr(request_signer, "_credentials", None)
            if getattr(credentials, "access_key", None) != STATE_MACHINE_ACCESS_KEY:
                return None
            service = model.service_model.service_name
            machine = self._template_machine(current_state_machine() or self._state_machine_arn)
            if machine is None:
                # A state machine the template does not define (a test's own): its calls are not judged,
                # as nothing else the engine's process does outside the template is.
                return None
            caller = self.policies.state_machine_caller(machine)
            context["local_access_caller"] = caller
            try:
                denial = self.decide(caller, service, model.name, context.get("local_access_params", {}))
            except UnmappedCall as exc:
                denial = Denial(caller.principal.arn or "", service, model.name, "", "", "AccessDenied", str(exc))
            return None if denial is None else _botocore_reply(denial)

        def conceal(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            caller = context.get("local_access_caller")
            params = context.get("local_access_params", {})
            code = str(parsed.get("Error", {}).get("Code"))
            if caller is None or not reads_a_missing_key(model.name, params, code):
                return
            denial = self._absence_denial(caller, model.name, params)
            if denial is not None:
                http_response.status_code = 403
                parsed["Error"] = _error_parsed(denial, 403, "AccessDenied")
                parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403

        session.events.register("before-parameter-build", stash, unique_id="local-access-params")
        session.events.register_first("before-call", gate, unique_id="local-access")
        session.events.register("after-call.s3", conceal, unique_id="local-access-absence")
        try:
            yield
        finally:
            session.events.unregister("after-call.s3", unique_id="local-access-absence")
            session.events.unregister("before-call", unique_id="local-access")
            session.events.unregister("before-parameter-build", unique_id="local-access-params")

    def _template_machine(self, arn: str) -> str | None:
        """The template's state machine ``arn`` belongs to: itself, or the parent of a Map child
        named under it (``stateMachine:<name>/<label>``, as AWS names a Distributed Map's)."""
        for machine in self._template_machines:
            if arn == machine or arn.startswith(machine + "/"):
                return machine
        return None


def reads_a_missing_key(operation: str, params: Mapping[str, Any], code: str) -> bool:
    """Whether S3's 404 of code ``code`` ("404" for a HEAD, which has no body) to a read answers
    that the current version of a key does not exist: GetObject's ``NoSuchKey``, or a HeadObject's
    bare 404. GetObject's NoSuchBucket and NoSuchVersion and a version's read keep their 404; a HEAD
    of a missing bucket cannot be told from a missing key's, and is taken for one. (The gateway
    asks for a handler's read, ``state_machine_gate`` for a state machine's own.)"""
    if operation not in ABSENCE_CONCEALED or "VersionId" in params:
        return False
    return code == ("NoSuchKey" if operation == "GetObject" else "404")


def _status_of(denial: Denial) -> tuple[int, str]:
    for (service, _via), (status, code) in _DENIALS.items():
        if service == denial.service and code == denial.code:
            return status, code
    return 403, denial.code


def _error_parsed(denial: Denial, status: int, code: str) -> dict[str, str]:
    """botocore's ``Error`` of a denial: S3 answers a HEAD with no body, so botocore knows only its
    status ("403", and the reason phrase), and so does the SDK (``S3.S3Exception`` in a state)."""
    if denial.service == "s3" and denial.operation.startswith("Head"):
        return {"Code": str(status), "Message": HTTPStatus(status).phrase}
    return {"Code": code, "Message": denial.message}


def _botocore_reply(denial: Denial) -> tuple[AWSResponse, dict[str, Any]]:
    """What botocore makes of the service's error response: ``(http response, parsed)``."""
    status, code = _status_of(denial)
    parsed = {
        "Error": _error_parsed(denial, status, code),
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4()), "HTTPHeaders": {}},
    }
    return AWSResponse("", status, {}, None), parsed
