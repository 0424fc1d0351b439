"""Tokens of docs/decisions/0002: what `creditflow token create` signs, what every service accepts and refuses."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import get_args

import httpx
import jwt
import pytest
from creditflow.cli import main as cli
from creditflow.events.catalogue import Role
from creditflow.runtime import identity
from creditflow.runtime.auth import OPERATOR_REFUSED, Identity, acting_for, authenticated
from creditflow.runtime.http import install_http_conventions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()


def token(inst="uni-tartu", roles=("registrar",), **kw):
    signed, _ = identity.create(KEY, sub="mari.maasikas@ut.ee", name="Mari Maasikas", inst=inst, roles=list(roles),
                                **kw)
    return signed


def refusal(signed, public=PUBLIC, revoked=frozenset()):
    with pytest.raises(identity.InvalidToken) as caught:
        identity.verify(signed, public, revoked)
    return caught.value.reason


def test_a_created_token_carries_every_claim_of_0002_and_verifies():
    signed, claims = identity.create(KEY, sub="mari@ut.ee", name=None, inst="uni-tartu",
                                     roles=["registrar", "reviewer"], now=datetime.now(UTC))
    assert set(claims) == {"iss", "sub", "name", "inst", "roles", "iat", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600 and claims["name"] == "mari@ut.ee"
    assert jwt.get_unverified_header(signed) == {"alg": "EdDSA", "typ": "JWT"}
    principal = identity.verify(signed, PUBLIC)
    assert (principal.person, principal.institution_id, principal.roles, principal.jti) == (
        "mari@ut.ee", "uni-tartu", frozenset({"registrar", "reviewer"}), claims["jti"])


def test_an_operator_token_acts_for_no_institution():
    assert identity.verify(token(inst=None, roles=["operator"]), PUBLIC).institution_id is None


def test_an_expired_token_is_refused():
    old = token(now=datetime.now(UTC) - timedelta(days=31))
    assert refusal(old) == "the token has expired"


def test_a_token_of_another_issuer_is_refused():
    foreign = jwt.encode({**jwt.decode(token(), options={"verify_signature": False}), "iss": "elsewhere"}, KEY,
                         algorithm="EdDSA")
    assert refusal(foreign) == "the token was not issued by creditflow"


def test_a_tampered_token_is_refused():
    header, payload, signature = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "inst": "uni-elsewhere"}).encode()).rstrip(b"=").decode()
    assert "signature does not verify" in refusal(f"{header}.{forged}.{signature}")


def test_a_token_signed_with_another_key_is_refused():
    assert "signature does not verify" in refusal(token(), public=Ed25519PrivateKey.generate().public_key())


def test_a_token_without_roles_or_expiry_is_refused():
    claims = jwt.decode(token(), options={"verify_signature": False})
    for claim in ("roles", "exp", "inst"):
        stripped = jwt.encode({k: v for k, v in claims.items() if k != claim}, KEY, algorithm="EdDSA")
        assert refusal(stripped) == f"the token lacks the claim {claim!r}"


def test_claims_that_break_a_rule_are_refused_when_signed_and_when_verified():
    with pytest.raises(identity.InvalidClaims, match="roles: unknown role 'dean'"):
        token(roles=["dean"])
    with pytest.raises(identity.InvalidClaims, match="inst: null for the operator"):
        token(inst=None, roles=["registrar"])
    with pytest.raises(identity.InvalidClaims, match="at most 365 days"):
        token(lifetime=timedelta(days=366))
    claims = jwt.decode(token(), options={"verify_signature": False})
    operator_of_an_institution = jwt.encode({**claims, "roles": ["operator"]}, KEY, algorithm="EdDSA")
    assert "inst: null for the operator" in refusal(operator_of_an_institution)


def test_a_revoked_token_is_refused():
    signed = token()
    assert refusal(signed, revoked={identity.verify(signed, PUBLIC).jti}) == "the token has been revoked"


def test_the_roles_are_the_same_in_tokens_the_contract_and_the_command_line():
    # Three lists because the command line and the signer start without the contract's models (start-up time).
    assert identity.ROLES == get_args(Role)
    assert set(cli.ROLES) == set(identity.ROLES) - {"operator"}


def test_lifetimes_are_read_as_days_hours_or_minutes():
    assert identity.parse_lifetime("30d") == timedelta(days=30)
    assert identity.parse_lifetime("12h") == timedelta(hours=12)
    with pytest.raises(identity.InvalidClaims, match="expires: '1y'"):
        identity.parse_lifetime("1y")


def test_the_private_key_file_is_created_once_and_readable_by_its_owner_only(tmp_path):
    private, public = tmp_path / "id" / "key.pem", tmp_path / "id" / "public.pem"
    assert identity.ensure_key_pair(private, public)
    first = private.read_bytes()
    assert not identity.ensure_key_pair(private, public)
    assert private.read_bytes() == first and private.stat().st_mode & 0o777 == 0o600
    signed, _ = identity.create(identity.load_private_key(private), sub="ops", name=None, inst=None,
                                roles=["operator"])
    assert identity.verify(signed, identity.load_public_key(public)).person == "ops"


# ------------------------------------------------------------------------------------------------ the dependency


@pytest.fixture
async def api():
    app = FastAPI()
    app.state.identity = Identity(PUBLIC)
    install_http_conventions(app)

    @app.get("/records")
    async def records(institution_id: str = Depends(acting_for("registrar", "reviewer", learner_data=True))):
        return {"institution_id": institution_id}

    @app.post("/institutions")
    async def register(_=Depends(authenticated("operator"))):
        return {}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.identity = app.state.identity
        yield client


def bearer(signed):
    return {"Authorization": f"Bearer {signed}"}


async def test_a_route_answers_the_holder_of_one_of_its_roles(api):
    answer = await api.get("/records", headers=bearer(token(roles=["reviewer"])))
    assert answer.status_code == 200 and answer.json() == {"institution_id": "uni-tartu"}


async def test_no_token_or_a_bad_one_is_401_naming_the_reason(api):
    missing = await api.get("/records")
    expired = await api.get("/records", headers=bearer(token(now=datetime.now(UTC) - timedelta(days=40))))
    assert missing.status_code == expired.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert "no bearer token" in missing.json()["detail"] and expired.json()["detail"] == "the token has expired"


async def test_a_genuine_token_without_the_role_is_403(api):
    integration = await api.get("/records", headers=bearer(token(roles=["issuer-integration"])))
    registrar = await api.post("/institutions", headers=bearer(token()))
    assert integration.status_code == registrar.status_code == 403
    assert integration.json()["detail"] == "this needs the role registrar or reviewer; the token holds issuer-integration"


async def test_the_operator_is_told_it_reads_no_learner_data(api):
    operator = bearer(token(inst=None, roles=["operator"]))
    refused = await api.get("/records", headers=operator)
    assert refused.status_code == 403 and refused.json()["detail"] == OPERATOR_REFUSED
    assert (await api.post("/institutions", headers=operator)).status_code == 200


async def test_a_revoked_token_is_401(api):
    signed = token()
    api.identity.revoked.add(identity.verify(signed, PUBLIC).jti)
    refused = await api.get("/records", headers=bearer(signed))
    assert refused.status_code == 401 and refused.json()["detail"] == "the token has been revoked"
