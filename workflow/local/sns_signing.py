"""The engine's SNS signs its deliveries as SNS does: one certificate, over SNS's string to sign.

(With ``SignatureVersion`` 2, SHA256withRSA, which moto always uses; a topic's default on AWS is
1, SHA1withRSA, and the template sets none. A subscriber reads the version from each message.)

A message delivered to an SQS or HTTP(S) subscription (raw delivery aside) carries a signature and
the URL of the certificate that verifies it. moto's ``Subscription.get_post_data`` does three
things SNS does not:

- it makes a new certificate for each message and keeps each one in its backend's
  ``_message_public_keys`` for as long as the process lives (to serve it at ``SigningCertURL``):
  about 1 KB per notification, without bound, under a long ``pipeline serve``. SNS signs with one
  certificate for a long time (``SimpleNotificationService-<hash>.pem``), and so does the engine:
  one per process, served at its URL by moto as moto serves its own;
- it signs with a 2,048-bit RSA key it generates for each subscription on its first delivery: a
  random prime search of 30-130 ms, which the first notification of every engine (a warm
  ``pipeline run`` has one) waited on. Here every subscription signs with one key of the same
  kind, generated once per installation and kept in the engine's cache (``signing_key``);
- it leaves the ``Subject`` out of the string it signs, so a subscriber that verifies signatures as
  SNS documents finds every message with a subject (every pipeline notification has one) wrongly
  signed. Here the string to sign is SNS's: Message, MessageId, Subject when there is one, Timestamp,
  TopicArn, Type (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).

The envelope is otherwise moto's, field for field, but for ``UnsubscribeURL``, which names the
subscription as SNS's does (moto's names a made-up one). Tests in
``tests/workflow/test_moto_reliances.py`` compare the two envelopes, and fetch the certificate
from moto's ``serve_pem``, which reads ``_message_public_keys``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow
from moto.sns.models import Subscription, sns_backends

from workflow.local.model_cache import write_whole
from workflow.local.synth import cache_root

# SNS signs messages with a 2,048-bit RSA key (moto's Subscription.private_key makes one alike).
SIGNING_KEY_BITS = 2048
# moto signs with SHA256withRSA ("SignatureVersion": "2"), which SNS offers too.
SIGNATURE_VERSION = "2"
_CERTIFICATE_DAYS = 365  # (moto's own certificates' validity)


def signing_key_file() -> Path:
    return cache_root() / "sns-signing-key.pem"


@functools.cache
def signing_key() -> rsa.RSAPrivateKey:
    """The key every local SNS subscription signs with: the cached one, else a new one, then cached."""
    path = signing_key_file()
    with contextlib.suppress(OSError, ValueError, TypeError):
        # Unchecked: the engine's own file, written below (the check takes 40 ms, longer than the
        # prime search it saves, on average). A damaged file fails to load, and is made again.
        kept = serialization.load_pem_private_key(path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True)
        if isinstance(kept, rsa.RSAPrivateKey) and kept.key_size == SIGNING_KEY_BITS:
            return kept
    key = rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)
    write_whole(
        path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return key


@dataclass(frozen=True)
class SigningCertificate:
    name: str  # the file name of its URL: SimpleNotificationService-<hash>.pem
    pem: bytes
    key: rsa.RSAPrivateKey  # what signs the messages it verifies


@functools.cache
def signing_certificate() -> SigningCertificate:
    """The certificate of ``signing_key``, made once per process, with moto's subject and issuer."""
    key = signing_key()
    now = utcnow()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
        .issuer_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
                ]
            )
        )
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=_CERTIFICATE_DAYS))
        .sign(key, hashes.SHA256())
    )
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return SigningCertificate(
        name=f"SimpleNotificationService-{digest[:32]}.pem",
        pem=certificate.public_bytes(serialization.Encoding.PEM),
        key=key,
    )


def string_to_sign(fields: dict[str, Any]) -> bytes:
    """SNS's string to sign for a notification: the name and value of each of these fields that
    ``fields`` has, a line each, in this order."""
    names = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    return "".join(f"{name}\n{fields[name]}\n" for name in names if fields.get(name) is not None).encode()


def _post_data(
    self: Subscription,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``Subscription.get_post_data``, signed with the engine's one certificate over SNS's string."""
    certificate = signing_certificate()
    region = self.topic.sns_backend.region_name
    # (moto serves a certificate from the default account's backend of the region, whoever
    # published; set at each delivery, as a reset of the backends forgets it)
    sns_backends[DEFAULT_ACCOUNT_ID][region]._message_public_keys[certificate.name] = certificate.pem
    # (moto's fields, in moto's order)
    post_data: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": self.topic.arn,
        "Message": message,
        "Timestamp": iso_8601_datetime_with_milliseconds(),
        "SignatureVersion": SIGNATURE_VERSION,
        "Signature": None,  # (signed below, over the other fields)
        "SigningCertURL": f"https://sns.{region}.amazonaws.com/{certificate.name}",
        "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.arn}",
    }
    if subject:
        post_data["Subject"] = subject
    if message_attributes:
        post_data["MessageAttributes"] = message_attributes
    signature = certificate.key.sign(string_to_sign(post_data), padding.PKCS1v15(), hashes.SHA256())
    post_data["Signature"] = base64.b64encode(signature).decode()
    return post_data


@contextmanager
def installed() -> Iterator[None]:
    """Deliveries signed as SNS signs them until the block ends."""
    original = vars(Subscription)["get_post_data"]
    Subscription.get_post_data = _post_data  # type: ignore[method-assign]
    try:
        yield
    finally:
        Subscription.get_post_data = original  # type: ignore[method-assign]
