"""The pipeline bucket (sources in, outputs out) and the bucket that keeps its access logs."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from tasks.common.layout import SOURCE_PREFIXES, STAGING_PREFIX
from workflow.executions import REDRIVE_WINDOW

ACCESS_LOG_PREFIX = "pipeline-bucket/"
# A failed run is redriven from the step that failed, which reads what earlier steps staged, up to
# REDRIVE_WINDOW (14 days) after the run stopped. S3 expires an object at the first midnight UTC
# after its days have passed, so staged output lives at least a day longer than the window.
STAGING_DAYS = REDRIVE_WINDOW.days + 1


def _private_bucket_settings() -> dict[str, Any]:
    """What every bucket here shares: SSE-S3, no public access, TLS only, versioned, retained."""
    return {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "versioned": True,
        "removal_policy": RemovalPolicy.RETAIN,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    }


def unreadable_source_denials(bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """Refuse sources the functions' roles could not read, at the upload: encrypted with a KMS key
    (the roles have no kms:Decrypt) or a customer-provided key (SSE-C), or stored in another class
    than STANDARD (archives cannot be read without a restore). Each condition is on a header the
    upload sends; without one, the bucket's default (SSE-S3, STANDARD) applies and is allowed.
    Condition keys: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
    """
    sources = [bucket.arn_for_objects(f"{prefix}*") for prefix in SOURCE_PREFIXES]

    def deny(sid: str, conditions: dict[str, dict[str, str]]) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid=sid,
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=sources,
            conditions=conditions,
        )

    return [
        deny(
            "RefuseSourcesEncryptedWithOtherKeys",
            {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        ),
        deny(
            "RefuseSourcesWithCustomerKeys", {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}
        ),
        deny(
            "RefuseSourcesInOtherStorageClasses",
            {
                "StringNotEquals": {"s3:x-amz-storage-class": "STANDARD"},
                "Null": {"s3:x-amz-storage-class": "false"},
            },
        ),
    ]


class PipelineBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, log_retention_days: int, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            **_private_bucket_settings(),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket receives the pipeline bucket's server access logs; logging it would recurse.",
        )
        skip_checkov(
            self.access_logs,
            "CKV_AWS_18",
            "This bucket receives the pipeline bucket's server access logs; logging it would recurse.",
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            **_private_bucket_settings(),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-abandoned-staging",
                    prefix=STAGING_PREFIX,
                    expiration=Duration.days(STAGING_DAYS),
                    # Overlapping rules: the shorter expiration wins, so staged bytes do not also stay
                    # 30 days as noncurrent versions (https://docs.aws.amazon.com/AmazonS3/latest/
                    # userguide/lifecycle-conflicts.html).
                    noncurrent_version_expiration=Duration.days(1),
                ),
                # Expiring a current version on a versioned bucket leaves a delete marker; once its
                # noncurrent version is gone too, this removes the marker. S3 takes it in a rule of its
                # own: ExpiredObjectDeleteMarker cannot go with an expiration in days.
                s3.LifecycleRule(
                    id="remove-staging-delete-markers",
                    prefix=STAGING_PREFIX,
                    expired_object_delete_marker=True,
                ),
            ],
        )
        for statement in unreadable_source_denials(self.bucket):
            self.bucket.add_to_resource_policy(statement)
        # Set on the bucket itself: the high-level ``event_bridge_enabled`` flag adds a custom
        # resource (a Lambda outside the VPC) just to make the same API call.
        cfn_bucket = cast(s3.CfnBucket, self.bucket.node.default_child)
        cfn_bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
        sse_s3 = "SSE-S3 (AES-256) is the encryption the owners require; a KMS key would add cost and a key policy."
        single_region = (
            "The pipeline is a single-region (us-east-1) deployment by requirement; sources can be uploaded "
            "again and outputs recomputed, and versioning guards against deletes and overwrites."
        )
        for bucket in (self.bucket, self.access_logs):
            skip_checkov(bucket, "CKV_AWS_145", sse_s3)
            acknowledge(bucket, "NIST.800.53.R5-S3DefaultEncryptionKMS", sse_s3)
            acknowledge(bucket, "NIST.800.53.R5-S3BucketReplicationEnabled", single_region)
