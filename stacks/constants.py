"""Names shared by the CDK app, the local runtime and the tests; importing this never loads CDK."""

STACK_NAME = "ServerlessDataPipeline"
REGION = "us-east-1"
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
