"""What each AWS call of the pipeline asks IAM: the action(s), the resource ARN(s), the condition keys.

``checks_for_call(caller, service, operation, params, resources)`` turns one botocore call
(service as botocore names it, operation, the call's parameters) into the authorization checks
AWS makes for it, in order; every one must be allowed for the call to succeed. A check may be
made by a service on the caller's behalf (SNS asks KMS for a data key when the topic is
encrypted): its ``via`` names that service, because a denial then surfaces as that service's
KMS error, not as the caller's own.

The calls mapped are the ones this pipeline makes, found by reading the code:

- handlers (``tasks/``): S3 ``HeadObject`` (Validate; ``s3.copy`` heads its source),
  ``GetObject`` (``common/sample.py``, ``common/staging.py``, ``transform/staged.py``, the split's
  steps, ``write_parquet/logic.py``, ``write_output/switch.py``, ``notify/logic.py``), ``PutObject``
  (``common/s3_stream.py``, ``write_output/logic.py``, ``notify/logic.py`` with ``IfNoneMatch``),
  ``CreateMultipartUpload`` / ``UploadPart`` / ``CompleteMultipartUpload`` /
  ``AbortMultipartUpload`` (``common/s3_stream.py``),
  ``CopyObject`` and, past the multipart threshold, ``UploadPartCopy`` (the managed ``s3.copy``
  of WriteOutput), SNS ``Publish`` (Notify; the topic is KMS-encrypted);
- the state machine (``workflow/pipeline.asl.json``): Lambda ``Invoke`` of the eight aliases,
  SNS ``Publish`` (``NotifyRejected``);
- services acting for the stack: EventBridge targets (Step Functions ``StartExecution`` as the
  S3 trigger's role, SNS ``Publish`` and SQS ``SendMessage`` to the dead-letter queue as
  ``events.amazonaws.com``), CloudWatch alarm actions (SNS ``Publish`` as
  ``cloudwatch.amazonaws.com``), the API's integration role (``StartExecution``,
  ``DescribeExecution``), and the role assumptions behind them (``role_assumption``);
- ``ListObjectsV2``/``ListObjects``: Validate and WriteOutput list under a key S3 refused to read,
  to tell an absent key from a refusal (``common/aws.py``), each under the prefix its role's
  ``s3:ListBucket`` names; so does the backfill's ``ListTheKey`` (``workflow/backfill.asl.json``);
- the ledger (``workflow/ledger.py``): DynamoDB ``UpdateItem``, ``GetItem``, ``Query`` (on an index:
  the index's ARN), ``BatchGetItem`` and ``Scan`` by the state machines and the operators' commands.

A call that is not mapped raises ``UnmappedCall`` naming it: the local runtime refuses it loudly
rather than letting it through unchecked. So does a mapped call whose authorization is not
modelled (an S3 write with SSE-KMS, an SNS publish to a phone number).

Sources: the S3 actions and keys per operation ("Required permissions for Amazon S3 API
operations", and GetObject's API reference: "If you include a versionId ... you must have the
s3:GetObjectVersion permission ... The s3:GetObject permission is not required"); the
conditional-write keys ``s3:if-none-match``/``s3:if-match`` and ``s3:ObjectCreationOperation``
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html); SNS
publishers of an encrypted topic need ``kms:GenerateDataKey*`` and ``kms:Decrypt``, with the
encryption context ``aws:sns:topicArn``; SQS producers likewise with ``aws:sqs:arn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from workflow.local.iam.evaluation import ContextValue, Principal, Request


class UnmappedCall(LookupError):
    """A call whose authorization the local IAM model does not know: refused, not let through."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a call: a role session, or a service acting for one of the stack's resources.

    ``source_arn`` and ``source_account`` are what AWS puts in ``aws:SourceArn`` and
    ``aws:SourceAccount`` when a service principal acts for a resource (a rule, an alarm).
    """

    principal: Principal
    source_arn: str | None = None
    source_account: str | None = None

    @classmethod
    def role_session(cls, role_arn: str, session_name: str) -> Caller:
        return cls(Principal.role_session(role_arn, session_name))

    @classmethod
    def service(cls, name: str, *, source_arn: str | None = None, source_account: str | None = None) -> Caller:
        return cls(Principal.aws_service(name), source_arn, source_account)


@dataclass(frozen=True, slots=True)
class KnownResources:
    """What the mapping needs to know of the deployment that a call's parameters do not say."""

    account: str
    region: str
    topic_keys: Mapping[str, str] = field(default_factory=dict)  # topic ARN -> ARN of its KMS key
    queue_keys: Mapping[str, str] = field(default_factory=dict)  # queue ARN -> ARN of its KMS key


@dataclass(frozen=True, slots=True)
class Check:
    """One authorization a call needs; ``via`` is the service that asks for the caller, if one does."""

    request: Request
    via: str | None = None


def checks_for_call(
    caller: Caller, service: str, operation: str, params: Mapping[str, Any], resources: KnownResources
) -> tuple[Check, ...]:
    """The checks AWS makes for ``service`` ``operation`` called with ``params`` by ``caller``."""
    mapper = _MAPPERS.get((service, operation))
    if mapper is None:
        raise UnmappedCall(
            f"the local IAM model does not know what {service} {operation} asks IAM "
            "(map it in workflow/local/iam/requests.py)"
        )
    return mapper(_Call(caller, params, resources))


def role_assumption(caller: Caller, role_arn: str, resources: KnownResources) -> Check:
    """The ``sts:AssumeRole`` a service makes before acting as ``role_arn`` (checked against its trust policy)."""
    return _Call(caller, {}, resources).check("sts:AssumeRole", role_arn)


# -- the mapping ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    caller: Caller
    params: Mapping[str, Any]
    resources: KnownResources

    def global_keys(self) -> dict[str, ContextValue]:
        """The global condition keys AWS sets on every request of this caller."""
        principal = self.caller.principal
        keys: dict[str, ContextValue] = {
            # SDKs and AWS services call over HTTPS.
            "aws:SecureTransport": True,
            "aws:RequestedRegion": self.resources.region,
            "aws:PrincipalIsAWSService": principal.service is not None,
        }
        if principal.service is not None:
            keys["aws:PrincipalServiceName"] = principal.service
        else:
            assert principal.role_arn is not None  # a principal is a service or a role session
            keys["aws:PrincipalArn"] = principal.role_arn
            keys["aws:PrincipalAccount"] = self.resources.account
            keys["aws:PrincipalType"] = "AssumedRole"
        if self.caller.source_arn is not None:
            keys["aws:SourceArn"] = self.caller.source_arn
        if self.caller.source_account is not None:
            keys["aws:SourceAccount"] = self.caller.source_account
        return keys

    def check(self, action: str, resource: str, keys: Mapping[str, ContextValue] | None = None) -> Check:
        return Check(Request(self.caller.principal, action, resource, {**self.global_keys(), **(keys or {})}))

    def on_behalf(self, service: str, action: str, key_arn: str, context: Mapping[str, str]) -> Check:
        """A KMS request that ``service`` makes for the caller: with its identity, or as the calling service."""
        keys = self.global_keys()
        principal = self.caller.principal
        if principal.role_arn is not None:
            keys.update(
                {
                    "aws:ViaAWSService": True,
                    "kms:CallerAccount": self.resources.account,
                    "kms:ViaService": f"{service}.{self.resources.region}.amazonaws.com",
                }
            )
        elif principal.service in _KMS_WITHOUT_SOURCE_KEYS:
            keys.pop("aws:SourceArn", None)
            keys.pop("aws:SourceAccount", None)
        keys["kms:EncryptionContextKeys"] = sorted(context)
        keys.update({f"kms:EncryptionContext:{name}": value for name, value in context.items()})
        return Check(Request(principal, action, key_arn, keys), via=service)

    def text(self, name: str) -> str:
        value = self.params.get(name)
        if not isinstance(value, str) or not value:
            raise UnmappedCall(f"the call has no {name} to authorize against")
        return value


# Per review finding 10 (a third-party report on EventBridge -> encrypted SNS delivery), the KMS
# request that SNS makes for EventBridge carries neither aws:SourceArn nor aws:SourceAccount: a
# key statement conditioned on them does not apply to it.
_KMS_WITHOUT_SOURCE_KEYS = frozenset({"events.amazonaws.com"})

# Request parameters -> the S3 condition keys their headers set, for object writes.
_S3_WRITE_KEYS = {
    "ServerSideEncryption": "s3:x-amz-server-side-encryption",
    "SSECustomerAlgorithm": "s3:x-amz-server-side-encryption-customer-algorithm",
    "StorageClass": "s3:x-amz-storage-class",
    "ACL": "s3:x-amz-acl",
    "IfNoneMatch": "s3:if-none-match",
    "IfMatch": "s3:if-match",
    "MetadataDirective": "s3:x-amz-metadata-directive",
}


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3_read(call: _Call, bucket: str, key: str, version: str | None) -> Check:
    if version:
        return call.check("s3:GetObjectVersion", _object_arn(bucket, key), {"s3:VersionId": version})
    return call.check("s3:GetObject", _object_arn(bucket, key))


def _s3_write(call: _Call, operation: str, extra: Mapping[str, ContextValue] | None = None) -> Check:
    encryption = str(call.params.get("ServerSideEncryption", ""))
    if encryption.startswith("aws:kms"):
        raise UnmappedCall(f"S3 {operation} with {encryption}: the KMS side of SSE-KMS writes is not modelled")
    keys: dict[str, ContextValue] = {
        "s3:ObjectCreationOperation": operation,
        **{condition: str(call.params[name]) for name, condition in _S3_WRITE_KEYS.items() if name in call.params},
        **(extra or {}),
    }
    return call.check("s3:PutObject", _object_arn(call.text("Bucket"), call.text("Key")), keys)


def _copy_source(value: Any) -> tuple[str, str, str | None]:
    """(bucket, key, version) of a ``CopySource``: the SDK's dict, or the header's ``bucket/key?versionId=``."""
    if isinstance(value, Mapping):
        return str(value["Bucket"]), str(value["Key"]), value.get("VersionId")
    if not isinstance(value, str):
        raise UnmappedCall(f"not a copy source: {value!r}")
    path, _, query = value.lstrip("/").partition("?versionId=")
    bucket, _, key = path.partition("/")
    return bucket, unquote(key), query or None


def _get_object(call: _Call) -> tuple[Check, ...]:
    return (_s3_read(call, call.text("Bucket"), call.text("Key"), call.params.get("VersionId")),)


def _put_object(operation: str) -> Callable[[_Call], tuple[Check, ...]]:
    def mapper(call: _Call) -> tuple[Check, ...]:
        return (_s3_write(call, operation),)

    return mapper


def _copy(operation: str) -> Callable[[_Call], tuple[Check, ...]]:
    def mapper(call: _Call) -> tuple[Check, ...]:
        bucket, key, version = _copy_source(call.params.get("CopySource"))
        source = f"{bucket}/{key}" + (f"?versionId={version}" if version else "")
        return (_s3_read(call, bucket, key, version), _s3_write(call, operation, {"s3:x-amz-copy-source": source}))

    return mapper


def _abort_multipart_upload(call: _Call) -> tuple[Check, ...]:
    return (call.check("s3:AbortMultipartUpload", _object_arn(call.text("Bucket"), call.text("Key"))),)


def _list_objects(call: _Call) -> tuple[Check, ...]:
    # Without a Prefix parameter the key is the empty string: AWS's own example of a listing
    # policy allows s3:prefix "" for listing the bucket's top level.
    keys: dict[str, ContextValue] = {"s3:prefix": str(call.params.get("Prefix", ""))}
    if "Delimiter" in call.params:
        keys["s3:delimiter"] = str(call.params["Delimiter"])
    if "MaxKeys" in call.params:
        keys["s3:max-keys"] = str(call.params["MaxKeys"])
    return (call.check("s3:ListBucket", f"arn:aws:s3:::{call.text('Bucket')}", keys),)


def _publish(call: _Call) -> tuple[Check, ...]:
    topic = call.params.get("TopicArn") or call.params.get("TargetArn")
    if not isinstance(topic, str) or not topic.startswith("arn:aws:sns:") or ":endpoint/" in topic:
        raise UnmappedCall("SNS Publish to anything but a topic (a phone number, a mobile endpoint) is not modelled")
    checks = [call.check("sns:Publish", topic)]
    key = call.resources.topic_keys.get(topic)
    if key is not None:
        context = {"aws:sns:topicArn": topic}
        checks += [call.on_behalf("sns", action, key, context) for action in ("kms:GenerateDataKey", "kms:Decrypt")]
    return tuple(checks)


def _queue_arn(call: _Call) -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<name>`` -> ``arn:aws:sqs:<region>:<account>:<name>``."""
    parts = urlparse(call.text("QueueUrl")).path.strip("/").split("/")
    if len(parts) != 2:
        raise UnmappedCall(f"not a queue URL: {call.params['QueueUrl']}")
    account, name = parts
    return f"arn:aws:sqs:{call.resources.region}:{account}:{name}"


def _send_message(call: _Call) -> tuple[Check, ...]:
    queue = _queue_arn(call)
    checks = [call.check("sqs:SendMessage", queue)]
    key = call.resources.queue_keys.get(queue)
    if key is not None:
        context = {"aws:sqs:arn": queue}
        checks += [call.on_behalf("sqs", action, key, context) for action in ("kms:GenerateDataKey", "kms:Decrypt")]
    return tuple(checks)


def _states(action: str, parameter: str) -> Callable[[_Call], tuple[Check, ...]]:
    def mapper(call: _Call) -> tuple[Check, ...]:
        return (call.check(action, call.text(parameter)),)

    return mapper


def _table_arn(call: _Call, table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{call.resources.region}:{call.resources.account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(action: str) -> Callable[[_Call], tuple[Check, ...]]:
    """An item or table operation, authorized on the table's ARN (a query on an index: the index's)."""

    def mapper(call: _Call) -> tuple[Check, ...]:
        index = call.params.get("IndexName")
        return (
            call.check(action, _table_arn(call, call.text("TableName"), index if isinstance(index, str) else None)),
        )

    return mapper


def _batch_get_item(call: _Call) -> tuple[Check, ...]:
    tables = call.params.get("RequestItems")
    if not isinstance(tables, Mapping) or not tables:
        raise UnmappedCall("the call has no RequestItems to authorize against")
    return tuple(call.check("dynamodb:BatchGetItem", _table_arn(call, str(table))) for table in tables)


def _invoke(call: _Call) -> tuple[Check, ...]:
    return (call.check("lambda:InvokeFunction", _function_arn(call)),)


def _function_arn(call: _Call) -> str:
    """The ARN Lambda authorizes an invoke on: the function's, with the qualifier when one is given.

    ``FunctionName`` may be a name, ``name:qualifier``, a full ARN or a partial one
    (``123456789012:function:name``); a ``Qualifier`` parameter adds the qualifier.
    """
    name = call.text("FunctionName")
    parts = name.split(":")
    if name.startswith("arn:"):
        account, function, qualifier = parts[4], parts[6], parts[7] if len(parts) > 7 else None
    elif len(parts) >= 3 and parts[1] == "function":
        account, function, qualifier = parts[0], parts[2], parts[3] if len(parts) > 3 else None
    else:
        account, function, qualifier = call.resources.account, parts[0], parts[1] if len(parts) > 1 else None
    qualifier = call.params.get("Qualifier") or qualifier
    arn = f"arn:aws:lambda:{call.resources.region}:{account}:function:{function}"
    return f"{arn}:{qualifier}" if qualifier else arn


_MAPPERS: dict[tuple[str, str], Callable[[_Call], tuple[Check, ...]]] = {
    ("s3", "GetObject"): _get_object,
    ("s3", "HeadObject"): _get_object,
    ("s3", "PutObject"): _put_object("PutObject"),
    ("s3", "CreateMultipartUpload"): _put_object("CreateMultipartUpload"),
    ("s3", "UploadPart"): _put_object("UploadPart"),
    ("s3", "CompleteMultipartUpload"): _put_object("CompleteMultipartUpload"),
    ("s3", "AbortMultipartUpload"): _abort_multipart_upload,
    ("s3", "CopyObject"): _copy("CopyObject"),
    ("s3", "UploadPartCopy"): _copy("UploadPartCopy"),
    ("s3", "ListObjectsV2"): _list_objects,
    ("s3", "ListObjects"): _list_objects,
    ("sns", "Publish"): _publish,
    ("sqs", "SendMessage"): _send_message,
    ("sqs", "SendMessageBatch"): _send_message,
    ("stepfunctions", "StartExecution"): _states("states:StartExecution", "stateMachineArn"),
    ("stepfunctions", "DescribeExecution"): _states("states:DescribeExecution", "executionArn"),
    ("lambda", "Invoke"): _invoke,
    ("dynamodb", "UpdateItem"): _dynamodb("dynamodb:UpdateItem"),
    ("dynamodb", "GetItem"): _dynamodb("dynamodb:GetItem"),
    ("dynamodb", "Query"): _dynamodb("dynamodb:Query"),
    ("dynamodb", "Scan"): _dynamodb("dynamodb:Scan"),
    ("dynamodb", "BatchGetItem"): _batch_get_item,
}
