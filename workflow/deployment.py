"""The names the deployed stack and every tool agree on: stack, region, account, outputs, tags.

CDK-free and import-free: the stack builds these into the template; the emulator builds the same
stack locally; the operations client finds a deployed stack by its name and outputs; the tests
assert on them. Changing one here changes it everywhere at once.
"""

STACK_NAME = "ServerlessDataPipeline"
REGION = "us-east-1"
# The account of the embedded environment (moto's default); a deployed stack takes the caller's.
LOCAL_ACCOUNT = "123456789012"
ENVIRONMENT_TAG = ("Environment", "Production")
POWERTOOLS_SERVICE_NAME = "serverless-data-pipeline"
METRICS_NAMESPACE = "ServerlessDataPipeline"

# CloudFormation outputs: how the local runtime and the operations commands find the resources.
OUTPUT_BUCKET = "BucketName"
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_TOPIC = "NotificationTopicArn"
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"
OUTPUT_DASHBOARD = "DashboardName"
OUTPUT_API_URL = "ApiUrl"
OUTPUT_API_ID = "ApiId"
OUTPUT_OPERATOR_ROLE = "OperatorRoleArn"
OUTPUT_LEDGER_TABLE = "LedgerTableName"
OUTPUT_BACKFILL_STATE_MACHINE = "BackfillStateMachineArn"
OUTPUT_UNDELIVERED_QUEUE = "UndeliveredEventsQueueUrl"
OUTPUT_LEDGER_OPERATOR_ROLE = "LedgerOperatorRoleArn"

# `pipeline smoke` (workflow/ops/smoke.py) and the operator role that may run it (stacks/operators.py)
# agree on where it leaves its traces: its samples go under incoming/<SMOKE_FOLDER>/ (their outputs
# land under processed/<SMOKE_FOLDER>/), its temporary queues are named smoke_queue_prefix(stack)….
SMOKE_FOLDER = "smoke"


def smoke_queue_prefix(stack_name: str) -> str:
    return f"{stack_name}-{SMOKE_FOLDER}-"
