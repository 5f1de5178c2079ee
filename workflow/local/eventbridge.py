"""The EventBridge deliveries that moto does not make.

moto matches events against the rules (with its own pattern matcher) but raises, and swallows,
at a Step Functions or SNS target. ``installed`` wraps moto's ``Rule.send_to_targets`` (an
internal, guarded by a test): a matched event whose target is a state machine starts an
execution, one whose target is a topic is published to it, each with the target's input
transformer applied as EventBridge does; every other target still goes to moto.

S3 writes ``detail.object.key`` URL-encoded (as in its other notifications: ``my file+1.csv``
arrives as ``my+file%2B1.csv``); moto 5.2.5 puts the key as it is. ``as_s3_sends_it`` encodes it
first, so rules match, and the pipeline receives, the key as they do on AWS.

S3 sends "Object Tags Added" when tags are put on an object
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html). moto sets the tags of
every ``PutObject`` and replacing ``CopyObject`` through ``put_object_tagging``, no tag included,
and so sends that event after every write: every rule then matched twice the events of a run's
writes. ``installed`` sends none for tagging that sets no tag on an object that has none (it
changes nothing).

moto's ``EventPattern.matches_event`` turns the event into JSON and back, and flattens it, for
each rule it is matched against: every event of every write, for every rule on the bus. ``matches``
does that once per event (the last one each thread matched) and leaves the match itself to moto.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

from moto.events.models import EventPattern, Rule
from moto.s3.models import FakeKey, S3Backend

from workflow.local.delivery import apply_input_transformer, execution_name

# (rule ARN, state machine ARN, execution name, input JSON, the event)
StartExecution = Callable[[str, str, str, str, dict[str, Any]], None]
Publish = Callable[[str, str, str, dict[str, Any]], None]  # (rule ARN, topic ARN, message, the event)


def as_s3_sends_it(event: dict[str, Any]) -> dict[str, Any]:
    """The event with ``detail.object.key`` URL-encoded as S3 encodes it (``/`` kept), if from S3.

    Only the dictionaries on the way to the key are copied, and only when encoding changes it:
    every rule sees every event of every write, so a deep copy each time costs more than the rest.
    """
    if event.get("source") != "aws.s3":
        return event
    detail = event.get("detail", {})
    obj = detail.get("object", {})
    key = obj.get("key")
    if not isinstance(key, str):
        return event
    encoded = quote_plus(key, safe="/")
    if encoded == key:
        return event
    return {**event, "detail": {**detail, "object": {**obj, "key": encoded}}}


class _Flattened(threading.local):
    """The last event a thread matched, and its flat form (moto's rules each see the same event)."""

    def __init__(self) -> None:
        self.event: dict[str, Any] | None = None
        self.flat: dict[str, Any] = {}


_FLATTENED = _Flattened()


def matches(pattern: EventPattern, event: dict[str, Any]) -> bool:
    """``pattern.matches_event(event)``, the event flattened once for every rule it meets."""
    if not pattern.get_pattern():
        return True
    if _FLATTENED.event is not event:
        # (as matches_event does: through JSON, so that the event is matched as it would be sent)
        _FLATTENED.flat = EventPattern._flatten_dict(json.loads(json.dumps(event)))
        _FLATTENED.event = event
    matched: bool = pattern._does_event_match(_FLATTENED.flat, pattern.get_pattern())
    return matched


@contextmanager
def installed(start_execution: StartExecution, publish: Publish) -> Iterator[None]:
    """Deliver events to state machine and topic targets, and send S3 tag events only for tags,
    until the block ends."""
    original = Rule.send_to_targets

    def send_to_targets(rule: Rule, event: Any, transform_input: bool = True) -> None:
        event = as_s3_sends_it(event)
        # A disabled rule delivers nothing (moto hands it events all the same).
        if rule.state != "ENABLED" or not matches(rule.event_pattern, event):
            return
        handled = []
        for target in rule.targets:
            service = target["Arn"].split(":")[2]
            if service not in {"states", "sns"}:
                continue
            handled.append(target)
            transformer = target.get("InputTransformer", {})
            payload = apply_input_transformer(
                event, transformer.get("InputPathsMap", {}), transformer.get("InputTemplate")
            )
            if service == "states":
                start_execution(rule.arn, target["Arn"], execution_name(event), payload, event)
            else:
                publish(rule.arn, target["Arn"], payload, event)
        others = [target for target in rule.targets if target not in handled]
        if others:
            rest = copy.copy(rule)
            rest.targets = others
            original(rest, event, transform_input)

    original_tagging = S3Backend.put_object_tagging

    def put_object_tagging(backend: S3Backend, key: FakeKey, tags: dict[str, str] | None) -> FakeKey:
        tagger = backend.tagger
        if tags or tagger.list_tags_for_resource(key.arn)["Tags"]:
            return original_tagging(backend, key, tags)
        # The tagger's state as moto leaves it (an empty tag set), without the event.
        tagger.tag_resource(key.arn, tagger.convert_dict_to_tags_input(tags))
        return key

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
    S3Backend.put_object_tagging = put_object_tagging  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Rule.send_to_targets = original  # type: ignore[method-assign]
        S3Backend.put_object_tagging = original_tagging  # type: ignore[method-assign]
