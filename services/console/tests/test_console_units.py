"""The console's pure parts: the session cookie, what a token says, credentials as the pages read them, the API's
errors placed next to form fields, progress with caps, the API calls. The pages themselves are tested in a browser against the real
stack (tests/browser)."""

import base64
import json
import os
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from creditflow.console import pages, views
from creditflow.console.apis import ApiError, Apis
from creditflow.console.session import Session, SessionCodec, load_key
from creditflow.console.settings import ConsoleSettings
from cryptography.fernet import Fernet

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def jwt(claims: dict) -> str:
    return f"{_b64({'alg': 'EdDSA', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"


# ------------------------------------------------------------------------------------------------ session


def test_a_session_cookie_round_trips_and_any_change_to_it_is_no_session():
    codec = SessionCodec(Fernet.generate_key(), max_age_s=3600)
    session = Session.anonymous().model_copy(update={"token": "t", "institution_id": "uni-a"})
    cookie = codec.encode(session)
    assert codec.decode(cookie) == session
    tampered = cookie[:-6] + ("A" if cookie[-6] != "A" else "B") + cookie[-5:]
    assert codec.decode(tampered) is None
    assert SessionCodec(Fernet.generate_key(), 3600).decode(cookie) is None  # another console's key
    assert codec.decode(cookie, datetime.now(UTC) + timedelta(hours=2)) is None  # older than the session lifetime
    assert "uni-a" not in cookie and "uni-a" not in base64.urlsafe_b64decode(cookie).decode("latin-1")  # encrypted


def test_signing_in_keeps_who_the_token_names_and_starts_a_new_csrf_token():
    before = Session.anonymous()
    claims = {"sub": "mari@ut.ee", "name": "Mari Maasikas", "inst": "uni-tartu", "roles": ["registrar"],
              "exp": int(NOW.timestamp())}
    session = Session.signed_in_as("the-token", claims, "University of Tartu")
    assert (session.token, session.name, session.institution_id, session.expires_at) == (
        "the-token", "Mari Maasikas", "uni-tartu", NOW)
    assert session.csrf != before.csrf


def test_a_session_ends_when_the_token_expires():
    session = Session.anonymous().model_copy(update={"token": "t", "expires_at": NOW})
    assert session.signed_in(NOW - timedelta(seconds=1)) and not session.signed_in(NOW)
    assert not Session.anonymous().signed_in(NOW)


def test_the_csrf_token_must_match_exactly():
    session = Session.anonymous()
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None) and not session.csrf_matches(session.csrf[:-1])


def test_the_session_key_is_created_private_and_a_readable_key_is_refused(tmp_path):
    path = tmp_path / "console" / "session.key"
    key = load_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and load_key(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(SystemExit, match="chmod 600"):
        load_key(path)


def test_settings_name_the_variable_that_is_wrong():
    with pytest.raises(SystemExit, match="CREDITFLOW_CONSOLE_HTTP_PORT"):
        ConsoleSettings.from_env(8105, {"CREDITFLOW_CONSOLE_HTTP_PORT": "eighty"})
    settings = ConsoleSettings.from_env(8105, {"CREDITFLOW_CONSOLE_STACKING_URL": "http://stacking:8104/",
                                               "CREDITFLOW_CONSOLE_SECURE_COOKIES": "false"})
    assert settings.service_urls["stacking"] == "http://stacking:8104" and settings.secure_cookies is False
    assert ConsoleSettings.from_env(8105, {}).secure_cookies is True  # Secure unless turned off


# ------------------------------------------------------------------------------------------------ tokens


def test_token_claims_are_read_for_display_and_anything_but_a_creditflow_token_is_refused():
    claims = {"iss": "creditflow", "sub": "mari@ut.ee", "inst": "uni-tartu", "roles": ["registrar"]}
    assert views.token_claims(jwt(claims))["inst"] == "uni-tartu"
    with pytest.raises(views.NotAToken, match="not a creditflow token"):
        views.token_claims("cft_opaque-token")
    with pytest.raises(views.NotAToken, match="iss"):
        views.token_claims(jwt({**claims, "iss": "elsewhere"}))
    with pytest.raises(views.NotAToken, match="cannot be read"):
        views.token_claims("a.b!.c")


# ------------------------------------------------------------------------------------------------ credentials

DOCUMENT = {"type": ["VerifiableCredential", "OpenBadgeCredential"], "name": "Intro to ML",
            "credentialSubject": {"achievement": {"euMicroCredential": {
                "sizeBand": {"band": "micro", "rule": "CMF: 100-150 h at EQF 4-7"}}}}}


def test_a_credential_is_read_whatever_its_securing():
    enveloped = {"type": "EnvelopedVerifiableCredential", "id": f"data:application/vc+jwt,{jwt(DOCUMENT)}"}
    assert views.credential_document(enveloped) == DOCUMENT
    assert views.credential_document({**DOCUMENT, "proof": {}})["name"] == "Intro to ML"  # Data Integrity
    assert views.credential_document(jwt({"iss": "x", "vc": DOCUMENT})) == DOCUMENT  # the OB 3.0 JWT form
    assert views.credential_document({"type": "EnvelopedVerifiableCredential", "id": "data:,nonsense"}) is None


def test_an_achievement_shows_its_size_band_and_is_expired_after_valid_until():
    entry = {"credential_id": "c1", "institution_id": "uni-a", "status": "valid",
             "credential": {**DOCUMENT, "validUntil": "2026-11-30T11:00:00Z"}}
    shown = views.achievement_view(entry, {"uni-a": "University A"}, NOW)
    assert shown.status == "expired" and shown.issuer_name == "University A" and shown.size_band["band"] == "micro"
    assert views.achievement_view(entry, {}, NOW - timedelta(hours=2)).status == "valid"
    assert views.achievement_view({**entry, "status": "revoked"}, {}, NOW).status == "revoked"


def test_a_pasted_credential_is_json_or_a_compact_jws_and_anything_else_says_why():
    assert views.parse_pasted_credential(' {"a": 1} ') == {"a": 1}
    assert views.parse_pasted_credential("eyJh.eyJi.c2ln\n") == "eyJh.eyJi.c2ln"
    with pytest.raises(ValueError, match="not valid JSON"):
        views.parse_pasted_credential("{broken")
    with pytest.raises(ValueError, match="neither"):
        views.parse_pasted_credential("hello")
    with pytest.raises(ValueError, match="paste a credential"):
        views.parse_pasted_credential("  ")


# ------------------------------------------------------------------------------------------------ decisions


def test_the_decision_form_becomes_the_api_body_with_the_module_of_each_recognised_item():
    form = {"outcome": "partial", "recognise:mod-b": "1", "credits:mod-b": "4", "basis:mod-b": "elective",
            "reasons": "outcomes match\n\n  checked by hand ", "conditions": ""}
    body, order = views.decision_request(form, ["mod-a", "mod-b"], "Mari")
    assert body == {"registrar": "Mari", "outcome": "partial", "conditions": [],
                    "recognised": [{"module_id": "mod-b", "basis": "elective", "credits": 4.0}],
                    "reasons": ["outcomes match", "checked by hand"]}
    assert order == ["mod-b"]


def test_api_errors_land_next_to_the_field_they_name():
    # The recognition API's refusal names recognised[i]: the field of that module, not of the first.
    refused = {"status": 422, "detail": "recognised[1].credits: 9 is more than module mod-b carries (6)"}
    assert views.field_errors(refused, ["mod-a", "mod-b"]) == {
        "credits:mod-b": ["9 is more than module mod-b carries (6)"]}
    invalid = {"status": 422, "detail": "reasons: too short", "errors": [
        {"field": "reasons", "rule": "List should have at least 1 item after validation"},
        {"field": "recognised.0.credits", "rule": "Input should be greater than 0"}]}
    assert views.field_errors(invalid, ["mod-a"]) == {
        "reasons": ["List should have at least 1 item after validation"],
        "credits:mod-a": ["Input should be greater than 0"]}
    conflict = {"status": 409, "detail": "case c1 is decided: a registrar decides only referred or appealed cases"}
    assert views.field_errors(conflict, []) == {"form": [conflict["detail"]]}


# ------------------------------------------------------------------------------------------------ progress

PROGRAMME = {"programme_id": "msc", "title": "MSc", "version": 2, "total_credits": {"value": 12, "framework": "ects"},
             "modules": [{"module_id": "mod-ml", "title": "Machine learning"}], "max_recognised_share": 0.5,
             "requirements": [{"requirement_id": "core", "kind": "required", "options": ["ach-ml"]},
                              {"requirement_id": "ml", "kind": "elective", "options": ["mod-ml"], "min_items": 1}]}


def test_progress_shows_each_requirement_what_counts_toward_it_the_caps_and_what_does_not_count():
    view = {"progress": {"satisfied_requirements": ["ml"], "missing_requirements": ["core"], "allocations": [
        {"credential_id": "recognition:d1:mod-ml", "requirement_id": "ml", "credits": 6, "source": "recognition",
         "micro_credential": False},
        {"credential_id": "c9", "requirement_id": "free", "credits": 2, "source": "credential",
         "micro_credential": True}],
        "not_counted": [{"credential_id": "c2", "reason": "too old"}]}, "explanation": ["c2 does not count"]}
    page = views.progress_page(view, PROGRAMME)
    core, ml = page.requirements
    assert (core.satisfied, core.counted, core.rule) == (False, [], "required: ach-ml")
    assert ml.satisfied and ml.rule == "elective: 1 of Machine learning" and ml.counted[0]["credits"] == 6
    assert [a["credential_id"] for a in page.free] == ["c9"]
    assert page.caps == [views.CapView("recognised credits", 0.5, 0.5)]
    assert page.not_counted == [{"credential_id": "c2", "reason": "too old"}]


def test_only_the_newest_version_of_each_programme_is_offered():
    latest = views.latest_versions([{**PROGRAMME, "version": 1}, PROGRAMME, {**PROGRAMME, "programme_id": "b",
                                                                              "version": 1}])
    assert {p: v["version"] for p, v in latest.items()} == {"msc": 2, "b": 1}


def test_the_what_if_form_becomes_one_hypothetical_credential():
    body = views.what_if_request({"achievement_id": " ach-dl ", "credits": "6", "framework": "ects", "eqf": "7"})
    assert body == {"credentials": [{"credential_id": "hypothetical", "achievement_id": "ach-dl",
                                     "credits": {"value": 6, "framework": "ects"}, "micro_credential": False,
                                     "eqf": 7}]}
    assert views.what_if_request({"credits": "six"})["credentials"][0]["credits"]["value"] == "six"  # API says why


# ------------------------------------------------------------------------------------------------ APIs


async def test_calls_carry_only_the_callers_token_never_a_cookie_from_another_call():
    seen: list[tuple[str | None, str | None]] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("authorization"), request.headers.get("cookie")))
        if request.url.path == "/cases/other":
            return httpx.Response(404, json={"title": "Not found", "detail": "no case other at uni-a"})
        return httpx.Response(200, json=[], headers={"set-cookie": "tracked=1; Path=/"})

    urls = {s: f"http://{s}.test" for s in ("issuer", "learner-record", "recognition", "stacking")}
    apis = Apis(urls, transport=httpx.MockTransport(service))
    try:
        await apis.json("recognition", "GET", "/cases", "token-of-a")
        await apis.json("recognition", "GET", "/cases", "token-of-b")
        with pytest.raises(ApiError) as refused:
            await apis.json("recognition", "GET", "/cases/other", "token-of-b")
    finally:
        await apis.close()
    assert seen == [("Bearer token-of-a", None), ("Bearer token-of-b", None), ("Bearer token-of-b", None)]
    assert (refused.value.status, refused.value.detail) == (404, "no case other at uni-a")


def test_a_refused_what_if_names_the_field_of_the_form():
    problem = {"detail": "...", "errors": [{"field": "credentials.0.credits.value", "rule": "Input should be a number"},
                                          {"field": "credentials.0.achievement_id", "rule": "String too short"}]}
    assert views.what_if_errors(problem) == {"value": ["Input should be a number"],
                                             "achievement_id": ["String too short"]}
    assert views.what_if_errors({"detail": "no programme p at uni-a"}) == {"form": ["no programme p at uni-a"]}


def test_after_sign_in_the_console_goes_only_to_a_page_of_its_own():
    assert pages.local_path("/learners/learner-ada?x=1") == "/learners/learner-ada?x=1"
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert pages.local_path(elsewhere) == "/queue"


def test_a_case_page_cites_the_agreements_and_precedents_a_decision_applied():
    """Rendered without a browser: the browser tests' cases are referred, so none applies an agreement."""
    from types import SimpleNamespace

    agreement = {"agreement_id": "agr-7", "source_institution_id": "uni-b", "source_achievement_id": "ach-ml",
                 "module_id": "mod-ml", "credits": {"value": 6, "framework": "ects"}, "effective_from": "2025-01-01"}
    data = {"decision_id": "d1", "outcome": "granted", "stage": "first-instance", "decided_by": "automatic",
            "supersedes": None, "policy_version": 1, "reasons": ["agreement agr-7"], "conditions": [],
            "recognised": [], "findings": [], "agreement_ids": ["agr-7"], "precedent_ids": ["case-1.d2"]}
    case = {"case_id": "case-9", "status": "decided", "learner_id": "learner-ada", "programme_id": "msc",
            "credential_ids": ["c1"], "module_ids": ["mod-ml"], "requested_at": "2026-11-30T10:00:00Z",
            "decision_due": None, "missing": [],
            "decisions": [{"data": data, "at": "2026-11-30T10:00:01Z", "appealed": False}]}
    request = SimpleNamespace(url=SimpleNamespace(path="/cases/case-9"), query_params={})
    html = pages.TEMPLATES.get_template("case.html").render(
        request=request, session=Session.anonymous(), case=case, programme={}, modules={}, offered={},
        decisions=[{"record": case["decisions"][0], "modules": [], "policy": [], "agreements": [agreement]}],
        outcomes=views.DECISION_OUTCOMES, form={}, errors={}, decidable=False)
    assert "agr-7" in html and "ach-ml of uni-b counts as mod-ml, 6 ECTS" in html and "case-1.d2" in html
    assert "Decided automatically" in html and "Decide this case" not in html
