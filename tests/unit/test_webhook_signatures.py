"""Webhook signatures: the Standard Webhooks scheme against the specification's
published test vector and the `standardwebhooks` library, secrets old and new, the
SDK's `verify_webhook`, and the deprecated Tickerdesk-Signature left as it was."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as LibraryRefused
from tickerdesk_client import WebhookVerificationError, verify_webhook

from tickerdesk.adapters.webhook_signatures import (
    legacy_sign,
    new_secret,
    sign,
    signing_key,
    standard_headers,
    standard_secret,
    verify_legacy_signature,
)

# The specification's test vector, as its reference libraries test `sign` with it.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def legacy_secret() -> str:
    """A secret as tickerdesk issued them before Standard Webhooks."""
    while True:  # one with both URL-safe letters, the case a standard decoder gets wrong
        secret = "whsec_" + secrets.token_urlsafe(32)
        if "-" in secret and "_" in secret[6:]:
            return secret


def test_sign_gives_the_specifications_test_vector():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY + b" ") != VECTOR_SIGNATURE
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY) != VECTOR_SIGNATURE


def test_the_sdk_verifies_the_test_vector_at_its_time_and_refuses_it_tampered_or_late():
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
               "webhook-signature": VECTOR_SIGNATURE}
    assert verify_webhook(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + 299) == {"test": 2432232314}
    upper = {name.upper(): value for name, value in headers.items()}
    assert verify_webhook(VECTOR_SECRET, upper, VECTOR_BODY.decode(), now=VECTOR_TIMESTAMP) == {"test": 2432232314}
    refused = [
        (VECTOR_SECRET, headers, VECTOR_BODY + b" ", VECTOR_TIMESTAMP),  # the body changed
        (VECTOR_SECRET, {**headers, "webhook-id": "msg_other"}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (VECTOR_SECRET, {**headers, "webhook-timestamp": str(VECTOR_TIMESTAMP + 1)}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (new_secret(), headers, VECTOR_BODY, VECTOR_TIMESTAMP),  # another secret
        (VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP + 301),  # replayed later
        (VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP - 301),  # from the future
        (VECTOR_SECRET, {**headers, "webhook-timestamp": "1614265330.0"}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (VECTOR_SECRET, {**headers, "webhook-timestamp": "¹⁶"}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (VECTOR_SECRET, {**headers, "webhook-signature": "v1a," + VECTOR_SIGNATURE[3:]}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (VECTOR_SECRET, {**headers, "webhook-signature": "v1,not base64!"}, VECTOR_BODY, VECTOR_TIMESTAMP),
        (VECTOR_SECRET, {k: v for k, v in headers.items() if k != "webhook-id"}, VECTOR_BODY, VECTOR_TIMESTAMP),
    ]
    for secret, these, body, now in refused:
        with pytest.raises(WebhookVerificationError):
            verify_webhook(secret, these, body, now=now)


def test_any_one_of_several_signatures_may_match_as_while_a_secret_rotates():
    rotated = " ".join([sign(new_secret(), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY), "v1a,AAAA", VECTOR_SIGNATURE])
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP), "webhook-signature": rotated}
    assert verify_webhook(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)
    assert Webhook(VECTOR_SECRET).sign(VECTOR_ID, datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC),
                                       VECTOR_BODY.decode()) == VECTOR_SIGNATURE


def test_a_new_secret_is_whsec_and_standard_base64_of_32_random_bytes():
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith("whsec_") and standard_secret(secret) == secret
        assert len(signing_key(secret)) == 32
        assert base64.b64decode(secret[6:], validate=True) == signing_key(secret)
        assert Webhook(secret)._whsecret == signing_key(secret)  # the library reads the same key


def test_a_secret_issued_before_standard_webhooks_keeps_its_key_in_the_standard_form():
    old = legacy_secret()
    key = base64.urlsafe_b64decode(old[6:] + "=")  # the 32 random bytes it was made of
    assert signing_key(old) == key and len(key) == 32
    converted = standard_secret(old)
    assert converted == "whsec_" + base64.b64encode(key).decode()
    assert signing_key(converted) == key
    body, moment = b'{"id":"x"}', 1735689600
    header = sign(old, "0194d1f2-8a4b-7c3d-9e5f-0a1b2c3d4e5f", moment, body)
    assert Webhook(converted).sign("0194d1f2-8a4b-7c3d-9e5f-0a1b2c3d4e5f", datetime.fromtimestamp(moment, UTC),
                                   body.decode()) == header
    # The library reads only the standard alphabet: given the old form as it is, it skips `-`
    # and `_` and gets another key, or fails. Hence the conversion the documents describe.
    with contextlib.suppress(binascii.Error):
        assert Webhook(old)._whsecret != key
    headers = standard_headers(old, "0194d1f2-8a4b-7c3d-9e5f-0a1b2c3d4e5f", moment, body)
    assert verify_webhook(old, headers, body, now=moment) == {"id": "x"}  # the SDK takes either form
    assert verify_webhook(converted, headers, body, now=moment) == {"id": "x"}


@given(
    key=st.binary(min_size=24, max_size=64),
    message_id=st.text(st.characters(blacklist_characters=".", blacklist_categories=("Cs",)), min_size=1),
    moment=st.integers(0, 2**33),
    body=st.text(st.characters(blacklist_categories=("Cs",))),
)
def test_sign_agrees_with_the_standardwebhooks_library(key, message_id, moment, body):
    secret = "whsec_" + base64.b64encode(key).decode()
    ours = sign(secret, message_id, moment, body.encode())
    assert ours == Webhook(secret).sign(message_id, datetime.fromtimestamp(moment, UTC), body)


def test_an_id_with_a_dot_is_never_signed():
    with pytest.raises(ValueError):
        sign(VECTOR_SECRET, "a.b", VECTOR_TIMESTAMP, VECTOR_BODY)


def test_the_library_refuses_an_old_timestamp_that_the_signature_covers():
    body = b'{"id":"x"}'
    old = int(datetime.now(UTC).timestamp()) - 301
    headers = standard_headers(VECTOR_SECRET, "msg_1", old, body)
    with pytest.raises(LibraryRefused, match="too old"):
        Webhook(VECTOR_SECRET).verify(body, headers)
    assert verify_webhook(VECTOR_SECRET, headers, body, now=old) == {"id": "x"}


def test_the_sdk_reads_money_as_decimals():
    body = b'{"id":"x","data":{"price":189.5000,"quantity":10}}'
    headers = standard_headers(VECTOR_SECRET, "msg_1", 1_000, body)
    envelope = verify_webhook(VECTOR_SECRET, headers, body, now=1_000)
    assert envelope["data"] == {"price": Decimal("189.5000"), "quantity": 10}
    assert str(envelope["data"]["price"]) == "189.5000"


# -- the deprecated Tickerdesk-Signature, sent for one more release -------------------------


def test_the_deprecated_signature_is_the_one_sent_before():
    body = b'{"id":"x"}'
    # Values the previous release computed: receivers that still check this header keep working.
    assert legacy_sign("whsec_s", 1_000_000, body) == (
        "v1=0d587ca01fc7ad806a5d6d135d5d61b21b2bf0f3be8eb5ef0ea789745189231c"
    )
    assert legacy_sign("whsec_" + "A" * 43, 1735689600, b"{}") == (
        "v1=fc13f238e4df6367657c930f9329d2ee174403045e6459bd346734b42237e220"
    )


def test_a_deprecated_signature_from_an_old_timestamp_is_refused():
    body = b'{"id":"x"}'
    header = legacy_sign("whsec_s", 1_000_000, body)
    assert verify_legacy_signature("whsec_s", 1_000_000, body, header, now=1_000_100)
    assert not verify_legacy_signature("whsec_s", 1_000_000, body, header, now=1_000_000 + 301)
    assert not verify_legacy_signature("whsec_s", "not-a-number", body, header)
    assert verify_legacy_signature("whsec_s", 1_000_000, body, f"v1=deadbeef, {header}", now=1_000_000)


def test_the_sdk_readmes_receiving_example_runs_as_written(capsys):
    readme = (Path(__file__).parents[2] / "clients" / "python" / "README.md").read_text()
    [example] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "verify_webhook" in block]
    namespace: dict = {}
    exec(example, namespace)
    secret, body = new_secret(), b'{"id":"x","type":"balance.updated","data":{"available":1.5}}'
    headers = standard_headers(secret, "x", int(time.time()), body)
    assert namespace["receive"](secret, headers, body) == 204
    assert capsys.readouterr().out == "x balance.updated {'available': Decimal('1.5')}\n"
    assert namespace["receive"](secret, headers, body.replace(b"1.5", b"9.5")) == 400
