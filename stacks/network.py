"""The network the functions run in: private isolated subnets, no route to the internet.

AWS services are reached through VPC endpoints only:
- S3 through a **gateway** endpoint (free), whose policy admits only the pipeline bucket;
- SNS through an interface endpoint: the Notify function publishes the success notification;
- X-Ray through an interface endpoint: with active tracing, Lambda runs an X-Ray daemon beside each
  function, which sends the function's segment. AWS does not document whether that daemon's traffic
  leaves through the function's VPC; a user reports traces arriving without an endpoint
  (aws/aws-xray-daemon#26), which is not enough to drop it unseen, so it stays until a deployed stack
  shows the traces without it (deploy review, finding 19).
Each interface endpoint costs about 0.01 USD per hour per AZ; nothing else is added, because no
function calls any other AWS API (logs and EMF metrics leave through the Lambda service). Both
admit HTTPS from the functions' security group only, not from the whole VPC.

The two availability zones are the first two CloudFormation lists for the account (``Fn::GetAZs``),
unless the ``availabilityZones`` context names them: AZ names map to different zones in each account,
and Lambda or an endpoint service may not support the zone a name maps to there.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole

CIDR = "10.64.0.0/20"
AVAILABILITY_ZONES = 2
HTTPS = ec2.Port.tcp(443)


class PipelineNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        log_groups: LogGroups,
        availability_zones: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        flow_logs = log_groups.create(self, "FlowLogs")
        flow_logs_role = ServiceRole(
            self, "FlowLogsRole", service="vpc-flow-logs.amazonaws.com", description="Writes the VPC flow logs"
        )
        flow_logs_role.allow(
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[flow_logs.log_group_arn],
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(CIDR),
            # Named zones, or the first AVAILABILITY_ZONES of the region (CDK takes one or the other).
            **(
                {"availability_zones": list(availability_zones)}
                if availability_zones
                else {"max_azs": AVAILABILITY_ZONES}
            ),
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
            ],
            # No custom resource to strip the default security group's rules: nothing uses it.
            restrict_default_security_group=False,
            flow_logs={
                "rejected": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_logs_role.role),
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                )
            },
        )
        acknowledge(
            self.vpc,
            "NIST.800.53.R5-VPCDefaultSecurityGroupClosed",
            "Nothing is attached to the default security group (functions and endpoints have their own); "
            "closing it takes a custom-resource Lambda outside the VPC, a larger exposure than an unused group.",
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.functions_security_group = ec2.SecurityGroup(
            self,
            "Functions",
            vpc=self.vpc,
            description="Pipeline functions: HTTPS to the VPC endpoints only",
            allow_all_outbound=False,
        )
        endpoints_security_group = ec2.SecurityGroup(
            self,
            "Endpoints",
            vpc=self.vpc,
            description="Interface endpoints: HTTPS from the pipeline functions only",
            allow_all_outbound=False,
        )
        endpoints_security_group.add_ingress_rule(self.functions_security_group, HTTPS, "HTTPS from the functions")
        # HTTPS to any address: the subnets' only routes are the VPC itself and the S3 gateway
        # endpoint, so this reaches the interface endpoints and S3 and nothing else.
        self.functions_security_group.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to VPC endpoints and S3")

        s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.subnets]
        )
        s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="PipelineBucketOnly",
                principals=[iam.AnyPrincipal()],
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:ListBucket",
                ],
                resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            )
        )
        for name, service in (
            ("Sns", ec2.InterfaceVpcEndpointAwsService.SNS),
            ("XRay", ec2.InterfaceVpcEndpointAwsService.XRAY),
        ):
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.subnets,
                security_groups=[endpoints_security_group],
                private_dns_enabled=True,
                # CDK's default (open) would also admit HTTPS from the whole VPC's CIDR.
                open=False,
            )
