"""Deployment settings from CDK context: defaults, accepted forms, refused values."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from stacks.config import CloudWatchRole, ConfigError, PipelineConfig
from stacks.pipeline_stack import PipelineStack
from tasks.common.settings import from_environ
from tasks.split.plan import SplitSettings
from workflow.deployment import REGION
from workflow.local.synth import synth_context


class Context:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def try_get_context(self, key: str) -> Any:
        return self.values.get(key)


def test_without_availability_zones_the_stack_takes_the_regions_first_two() -> None:
    assert PipelineConfig.from_context(Context({})).availability_zones == ()
    assert PipelineConfig.from_context(Context({"availabilityZones": ""})).availability_zones == ()


@pytest.mark.parametrize(
    "given",
    ["us-east-1b,us-east-1c", " us-east-1b , us-east-1c ", ["us-east-1b", "us-east-1c"]],
    ids=["-c text", "spaces", "cdk.json list"],
)
def test_availability_zones_are_read_from_context_as_text_or_a_list(given: Any) -> None:
    config = PipelineConfig.from_context(Context({"availabilityZones": given}))
    assert config.availability_zones == ("us-east-1b", "us-east-1c")


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("us-east-1a", "at least 2"),
        ("us-east-1a,us-east-1a", "twice"),
        ("eu-west-1a,eu-west-1b", "not zones of us-east-1"),
        ("use1-az1,use1-az2", "not zones of us-east-1"),
        ("us-east-1-bos-1a,us-east-1a", "not zones of us-east-1"),
        (7, "invalid context value"),
    ],
)
def test_availability_zones_that_cannot_work_are_refused_with_the_reason(given: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        PipelineConfig.from_context(Context({"availabilityZones": given}))


def test_the_stack_builds_its_network_in_the_zones_the_context_names() -> None:
    # Given the app's context with two named zones, asset bundling off (as the local synth does)
    context = {**synth_context(), "availabilityZones": "us-east-1c,us-east-1d"}
    app = App(context=context)
    # When the stack is built from that context, as app.py builds it
    stack = PipelineStack(app, "Zoned", config=PipelineConfig.from_context(app.node), env=Environment(region=REGION))
    # Then every subnet is in one of those zones
    subnets = Template.from_stack(stack).find_resources("AWS::EC2::Subnet")
    assert sorted(body["Properties"]["AvailabilityZone"] for body in subnets.values()) == ["us-east-1c", "us-east-1d"]


def test_the_api_gateway_account_role_is_created_unless_the_context_says_the_account_has_one() -> None:
    assert PipelineConfig.from_context(Context({})).api_gateway_cloud_watch_role is CloudWatchRole.CREATE
    existing = Context({"apiGatewayCloudWatchRole": "existing"})
    assert PipelineConfig.from_context(existing).api_gateway_cloud_watch_role is CloudWatchRole.EXISTING
    with pytest.raises(ConfigError, match="apiGatewayCloudWatchRole must be create or existing, not 'mine'"):
        PipelineConfig.from_context(Context({"apiGatewayCloudWatchRole": "mine"}))


def test_the_split_s_parameters_reach_fetch_and_plan_ranges_as_split_settings_read_them() -> None:
    # Given a context that sets the split's threshold, range size and concurrency
    config = PipelineConfig.from_context(
        Context(
            {
                "splitThresholdBytes": "5000",
                "rangeBytes": 1000,
                "rangeConcurrency": "7",
                "gzipSplitThresholdBytes": 9,
                "maxObjectBytes": 1_000_000,
                "maxDecompressedBytes": 1_000_000,
            }
        )
    )
    # When the functions' environment is made from it and read back as the handlers read it
    settings = from_environ(SplitSettings, config.split_environment())
    # Then the handlers see those values; unset ones keep SplitSettings' defaults, which the context's equal
    assert (settings.split_threshold_bytes, settings.range_bytes, settings.range_concurrency) == (5000, 1000, 7)
    assert settings.gzip_split_threshold_bytes == 9
    defaults = from_environ(SplitSettings, PipelineConfig().split_environment())
    assert defaults == SplitSettings()


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"rangeConcurrency": "0"}, "rangeConcurrency must be between 1 and 10000"),
        ({"rangeConcurrency": "10001"}, "rangeConcurrency must be between 1 and 10000"),
        ({"rangeBytes": "0"}, "rangeBytes must be positive"),
        ({"rangeBytes": str(10 * 1024**2)}, "rangeBytes 10485760 is too small: the largest source accepted"),
        ({"splitThresholdBytes": "-1"}, "splitThresholdBytes, gzipSplitThresholdBytes and rangeBytes must be positive"),
        (
            {"maxDecompressedBytes": str(8 * 1024**2 * 10_000 + 1)},
            "maxDecompressedBytes 83886080001 is too large: InflateSource writes",
        ),
    ],
)
def test_split_parameters_that_cannot_work_are_refused(given: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        PipelineConfig.from_context(Context(given))


def test_a_gzip_source_may_expand_to_as_many_bytes_as_inflate_source_s_10000_parts_hold() -> None:
    config = PipelineConfig.from_context(Context({"maxDecompressedBytes": str(8 * 1024**2 * 10_000)}))
    assert config.max_decompressed_bytes == 8 * 1024**2 * 10_000
