#!/usr/bin/env python3
"""The CDK app: one stack in us-east-1, every resource tagged Environment=Production,
cdk-nag checked.

It makes no AWS call, so ``cdk synth`` and ``python app.py`` work offline without credentials.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks

from stacks.config import PipelineConfig
from stacks.pipeline_stack import PipelineStack
from workflow.deployment import ENVIRONMENT_TAG, REGION, STACK_NAME


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    PipelineStack(
        app,
        STACK_NAME,
        config=PipelineConfig.from_context(app.node),
        env=cdk.Environment(region=REGION),
        description="serverless-data-pipeline: S3/API-triggered Step Functions data pipeline",
    )
    cdk.Tags.of(app).add(*ENVIRONMENT_TAG)
    # Every synth is checked; an unacknowledged finding is an error that stops the synth.
    for checks in (AwsSolutionsChecks(verbose=True), ServerlessChecks(verbose=True), NIST80053R5Checks(verbose=True)):
        cdk.Aspects.of(app).add(checks)
    return app


if __name__ == "__main__":
    build_app().synth()
