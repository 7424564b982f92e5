"""Tokens: HS256 with a secret, RS256 with a public key; the user is `sub`."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tickerdesk.config import Settings
from tickerdesk.entrypoints.http.auth import TokenVerifier, issue_token
from tickerdesk.entrypoints.http.refusals import Unauthenticated

SECRET = "a-secret-that-is-long-enough-for-hs256-tokens"


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def test_an_hs256_token_names_its_user_and_scope():
    verifier = TokenVerifier(Settings(jwt_secret=SECRET))
    assert verifier.verify(issue_token(SECRET, "alice")).user_id == "alice"
    assert verifier.verify(issue_token(SECRET, "ops", admin=True)).admin is True
    assert verifier.verify(issue_token(SECRET, "alice")).admin is False


def test_an_rs256_token_is_verified_with_the_public_key_alone(rsa_key, tmp_path):
    key, public = rsa_key
    token = jwt.encode({"sub": "bob", "scopes": ["admin"], "exp": int(time.time()) + 60}, key, algorithm="RS256")
    assert TokenVerifier(Settings(jwt_public_key=public)).verify(token).admin is True
    path = tmp_path / "key.pem"
    path.write_text(public)
    assert TokenVerifier(Settings(jwt_public_key=str(path))).verify(token).user_id == "bob"


def test_an_hs256_token_is_refused_where_rs256_is_expected(rsa_key):
    _, public = rsa_key
    forged = issue_token(SECRET, "mallory")  # signed with a secret, not the private key
    with pytest.raises(Unauthenticated):
        TokenVerifier(Settings(jwt_public_key=public)).verify(forged)


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": 42}, {"sub": "x" * 200}, {"sub": "a", "exp": 1}])
def test_tokens_without_a_usable_subject_or_expired_are_refused(claims):
    with pytest.raises(Unauthenticated):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_audience_and_issuer_are_checked_when_configured():
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, jwt_audience="tickerdesk", jwt_issuer="idp"))
    exp = int(time.time()) + 60
    good = jwt.encode({"sub": "a", "aud": "tickerdesk", "iss": "idp", "exp": exp}, SECRET, algorithm="HS256")
    assert verifier.verify(good).user_id == "a"
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode({"sub": "a", "aud": "other", "iss": "idp", "exp": exp}, SECRET, algorithm="HS256"))


def test_a_verifier_needs_a_key():
    with pytest.raises(ValueError):
        TokenVerifier(Settings(jwt_secret=None, jwt_public_key=None))


def _token(**claims) -> str:
    return jwt.encode({"sub": "alice", **claims}, SECRET, algorithm="HS256")


def test_a_token_without_an_expiry_is_refused():
    """A token that never expires cannot be revoked by waiting: `exp` is required."""
    with pytest.raises(Unauthenticated, match="exp"):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(_token(iat=int(time.time())))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_not_valid_yet_is_refused(claim):
    """`nbf` and `iat` in the future (beyond the leeway for clock skew) are refused."""
    now = int(time.time())
    verifier = TokenVerifier(Settings(jwt_secret=SECRET))
    with pytest.raises(Unauthenticated, match="not yet valid"):
        verifier.verify(_token(exp=now + 3600, **{claim: now + 600}))
    assert verifier.verify(_token(exp=now + 3600, **{claim: now + 5})).user_id == "alice"  # skew


def test_issued_tokens_expire():
    claims = jwt.decode(issue_token(SECRET, "alice", ttl_seconds=60), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60
