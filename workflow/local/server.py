"""``pipeline serve``: the embedded environment behind a real AWS-compatible endpoint.

One port answers both: AWS API calls go to moto's server (S3, Step Functions, SNS, SQS,
EventBridge, CloudFormation: the AWS CLI and any SDK work with ``--endpoint-url``), and the
pipeline's HTTP API routes go to ``LocalApi``. The stack is registered in the local
CloudFormation with the deployed stack's outputs, so clients find the bucket, the state machine
and the API the way they find them on AWS: by stack name.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from botocore.credentials import Credentials
from moto.moto_server.werkzeug_app import MotoRequestHandler

from workflow.api_contract import STAGE
from workflow.deployment import (
    OUTPUT_ALARM_TOPIC,
    OUTPUT_API_URL,
    OUTPUT_BUCKET,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TOPIC,
    REGION,
    STACK_NAME,
)
from workflow.local import ledger_resources
from workflow.local.alarms import AlarmNotification
from workflow.local.api import LocalApi, stage_throttle
from workflow.local.environment import LocalPipeline, Notification
from workflow.local.gateway import Dispatcher
from workflow.local.http_server import KeepAlive, PooledWSGIServer

logger = logging.getLogger(__name__)


class _Handler(KeepAlive, MotoRequestHandler):
    """moto's request handler, its clients' connections kept between requests."""


# Throwaway credentials: printed for clients, and the only ones the local API accepts.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 - a public placeholder, not a secret
WATCH_INTERVAL_SECONDS = 0.05
# The notifications queues are read this often: each look costs the engine two SQS receives or more
# (the runs' and the alarms'; 3.7 % of serve's time under load, looking every 0.25 s). A
# notification is printed at most this long after it is published.
NOTIFICATION_INTERVAL_SECONDS = 0.5


class LocalServer:
    """Serve an entered ``LocalPipeline`` on ``host:port`` until ``stop``."""

    def __init__(
        self,
        pipeline: LocalPipeline,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_notification: Callable[[Notification], None] | None = None,
        on_alarm: Callable[[AlarmNotification], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._on_notification = on_notification
        self._on_alarm = on_alarm
        self._api = LocalApi(
            sfn=pipeline.client("stepfunctions"),
            bucket_name=pipeline.stack.bucket_name,
            state_machine_arn=pipeline.stack.state_machine_arn,
            credentials=Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
            access=pipeline.access,
            throttle=stage_throttle(pipeline.stack.template),
        )
        moto_app = Dispatcher()
        # Stopping does not wait for a client's request (an SQS long poll lasts up to 20 s).
        self._server = PooledWSGIServer(host, port, self._dispatch(moto_app), _Handler, close_wait_seconds=0)
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.endpoint_url}/{STAGE}/"

    def environment(self) -> dict[str, str]:
        """What a client needs in its environment to talk to this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def start(self) -> None:
        self._register_stack()
        for target in (self._server.serve_forever, self._watch):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()  # (its serve_forever then closes it)
        for thread in self._threads:
            thread.join(timeout=5)

    def _dispatch(self, moto_app: Any) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
        api = self._api

        def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if api.owns(environ.get("PATH_INFO", ""), environ.get("HTTP_AUTHORIZATION", "")):
                return api(environ, start_response)
            result: Iterable[bytes] = moto_app(environ, start_response)
            return result

        return application

    def _register_stack(self) -> None:
        """A CloudFormation stack named like the deployed one, carrying its outputs."""
        outputs = {
            OUTPUT_BUCKET: self.pipeline.stack.bucket_name,
            OUTPUT_STATE_MACHINE: self.pipeline.stack.state_machine_arn,
            OUTPUT_TOPIC: self.pipeline.stack.topic_arn,
            OUTPUT_ALARM_TOPIC: self.pipeline.stack.alarm_topic_arn,
            OUTPUT_API_URL: self.api_url,
            **ledger_resources.outputs(self.pipeline.client("sqs"), self.pipeline.stack),
        }
        template = {
            "Description": "serverless-data-pipeline, served locally by 'pipeline serve'",
            "Resources": {"Local": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        }
        with warnings.catch_warnings():
            # moto creates no resource for a wait-condition handle and says so; none is needed.
            warnings.simplefilter("ignore", UserWarning)
            self.pipeline.client("cloudformation").create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(template))

    def _watch(self) -> None:
        """Announce finished executions (status-change events) and pass on notifications and alarms."""
        next_look = 0.0
        while not self._stopped.is_set():
            try:
                self.pipeline.announce_finished(wait=WATCH_INTERVAL_SECONDS)
                if time.monotonic() < next_look:
                    continue
                next_look = time.monotonic() + NOTIFICATION_INTERVAL_SECONDS
                if self._on_notification is not None:
                    for notification in self.pipeline.notifications():
                        self._on_notification(notification)
                if self._on_alarm is not None:
                    for alarm in self.pipeline.alarm_notifications():
                        self._on_alarm(alarm)
            except Exception:
                # One failed look must not end the watch: log it, the next look retries.
                logger.exception("the serve watcher failed once; it keeps watching")
