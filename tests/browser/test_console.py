"""The registrar console in headless Chromium against the real stack (every service a process, real Kafka and
FerretDB): a registrar signs in, reads a learner's record, decides a referred case and sees the decision in the
record, asks what-if, verifies a tampered credential; another institution's case is not found; a bad decision shows
the API's error next to its field and decides nothing. axe-core checks every page opened; each test saves a
1366x768 screenshot (docs/console/ holds those docs/console.md shows)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from console_driver import Console, World, build_world
from creditflow.events import RecognitionAppealed, RecognitionAppealedData
from e2e_driver import Driver, eventually
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def world(running_stack) -> World:
    driver = Driver(running_stack)
    try:
        return await build_world(driver, cases=2)
    finally:
        await driver.close()


@pytest.fixture
def console(browser, running_stack, axe_source, screenshots, world) -> Console:
    """The console, signed in as a registrar of the receiving institution."""
    console = Console(browser, running_stack.urls["console"], axe_source, screenshots)
    browser.delete_all_cookies()
    console.sign_in(running_stack.servers.identity.token(world.receiver, "registrar", person="mari@taltech.example"))
    return console


def registered_name(running_stack, institution_id: str) -> str:
    """What the console can show: the registered name where the issuer serves the institution's profile, its id
    where it serves none."""
    answer = httpx.get(f"{running_stack.urls['issuer']}/institutions/{institution_id}")
    return answer.json()["name"] if answer.status_code == 200 else institution_id


def test_sign_in_refuses_a_forged_token_then_shows_the_queue_with_the_institution(browser, running_stack, axe_source,
                                                                                 screenshots, world):
    console = Console(browser, running_stack.urls["console"], axe_source, screenshots)
    browser.delete_all_cookies()
    token = running_stack.servers.identity.token(world.receiver, "registrar")
    header, claims, signature = token.split(".")
    forged = ".".join([header, claims, ("A" if signature[0] != "A" else "B") + signature[1:]])
    console.sign_in(forged)
    assert "refused this token" in console.text("#token-error")
    console.shot("signin-refused")

    console.paste("#token", token)
    console.submit("form[action='/signin'] button[type=submit]")
    assert browser.current_url.endswith("/queue")
    assert console.text("[data-testid=institution]") == registered_name(running_stack, world.receiver)
    rows = {r.get_attribute("data-case") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-case]")}
    assert set(world.cases) <= rows
    console.shot("queue", docs=True)

    console.sign_out()
    assert "You are signed out" in console.text()
    console.open(f"/cases/{world.case(0)}")
    assert "/signin" in browser.current_url  # no page without a session


def test_learner_record_shows_each_achievement_with_its_ects_rule_and_what_is_hidden_by_consent(console, world,
                                                                                               running_stack):
    console.open("/learners")
    console.fill("#learner_id", world.learner)
    console.submit("form[role=search] button")
    offered = console.text(f"tr[data-credential='{world.offered_credential}']")
    assert "Introduction to machine learning" in offered
    assert world.source_name in offered  # the issuer by its registered name
    assert "6 ECTS (identity: already ECTS)" in offered  # the figure and the conversion rule that gave it
    assert "EQF 6" in offered and "valid" in offered
    assert "hidden by consent" in console.text("[data-testid=partial]")
    assert "MSc Data Science" in console.text("#progress-h + table")
    console.shot("learner", docs=True)

    clr = console.browser.find_element(By.LINK_TEXT, "Download signed CLR 2.0").get_attribute("href")
    cookie = console.browser.get_cookie("creditflow_console")
    download = httpx.get(clr, cookies={cookie["name"]: cookie["value"]})
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.json()  # the signed ClrCredential as learner-record exported it


async def test_a_bad_decision_shows_the_api_error_next_to_the_field_and_decides_nothing(console, world, driver):
    console.open(f"/cases/{world.case(1)}")
    console.click("input[name=outcome][value=granted]")
    console.click("input[name='recognise:mod-ml']")
    console.fill("input[name='credits:mod-ml']", "9")
    console.fill("#reasons", "Outcomes match")
    console.submit("form[action$='/decision'] button[type=submit]")
    assert "more than module mod-ml carries" in console.text("#credits-mod-ml-error")
    assert console.browser.find_element(By.ID, "credits-mod-ml").get_attribute("aria-invalid") == "true"
    console.shot("decision-refused", docs=True)

    console.fill("input[name='credits:mod-ml']", "6")  # credits fine now, the reasons missing
    console.fill("#reasons", "")
    console.submit("form[action$='/decision'] button[type=submit]")
    assert "at least 1 item" in console.text("#reasons-error")
    assert console.browser.find_element(By.ID, "credits-mod-ml").get_attribute("value") == "6"  # the form kept
    case = (await driver.recognition.get(f"/cases/{world.case(1)}", headers=driver.registrar(world.receiver))).json()
    assert case["status"] == "awaiting-registrar" and len(case["decisions"]) == 1  # still only the referral


async def test_a_referred_case_decided_in_the_console_shows_in_the_learner_record(console, world, driver):
    console.open(f"/cases/{world.case(0)}")
    page = console.text()
    assert "Machine learning" in page and "referred" in page
    assert "quality assurance" in page.lower()  # the findings name the element, the evidence and the rule
    console.shot("case", docs=True)
    console.click("input[name=outcome][value=partial]")
    console.click("input[name='recognise:mod-ml']")
    console.fill("input[name='credits:mod-ml']", "4")
    console.fill("#reasons", "Learning outcomes match; quality assurance of the provider checked by hand")
    console.submit("form[action$='/decision'] button[type=submit]")
    assert "Your decision is recorded" in console.text()
    assert "registrar" in console.text(".decision")

    registrar = driver.registrar(world.receiver)

    async def decided():
        record = (await driver.records.get(f"/learners/{world.learner}/record", headers=registrar)).json()["record"]
        return any(r["case_id"] == world.case(0) and r["outcome"] == "partial" for r in record["recognitions"])

    await eventually(decided, "the decision in the learner record")
    console.open(f"/learners/{world.learner}")
    row = console.text(f"tr[data-case='{world.case(0)}']")
    assert "partial" in row and "mod-ml: 4 ECTS" in row and "checked by hand" in row
    console.shot("learner-decided")

    # The learner appeals, through the receiving institution (its inbound topic: 0001); the case shows the appeal and
    # asks for a review, which supersedes the decision.
    case = (await driver.recognition.get(f"/cases/{world.case(0)}", headers=registrar)).json()
    await driver.publish(RecognitionAppealed(producer=world.receiver, learner_id=world.learner,
                                             data=RecognitionAppealedData(
        case_id=world.case(0), institution_id=world.receiver, decision_id=case["decisions"][-1]["data"]["decision_id"],
        grounds="The provider is accredited abroad; the certificate is attached.")))

    async def appealed():
        answer = await driver.recognition.get(f"/cases/{world.case(0)}", headers=registrar)
        return answer.json()["status"] == "appealed"

    await eventually(appealed, "the appeal to reach the case")
    console.open(f"/cases/{world.case(0)}")
    assert "Review the appealed decision" in console.text("#decide-h")
    assert "appealed by the learner" in console.text(".decision")
    console.click("input[name=outcome][value=granted]")
    console.click("input[name='recognise:mod-ml']")
    console.fill("#reasons", "The foreign agency is registered in EQAR")
    console.submit("form[action$='/decision'] button[type=submit]")
    review = console.text(".decision")  # the newest first
    assert "review" in review and "granted" in review and "supersedes" in review
    console.shot("case-reviewed")


def test_what_if_adds_a_hypothetical_credential_and_changes_nothing(console, world):
    console.open(f"/learners/{world.learner}/programmes/{world.programme_id}")
    assert "advanced" in console.text(".summary")  # missing now
    console.fill("#achievement_id", "ach-deep-learning")
    console.fill("#credits", "6")
    console.fill("#eqf", "7")
    console.submit("form[action$='/what-if'] button[type=submit]")
    result = console.text("[data-testid=what-if-result]")
    assert "nothing was changed" in result and "complete" in result
    assert "advanced" in console.text(".summary")  # the learner's real progress is as it was
    console.shot("progress", docs=True)


async def test_a_tampered_credential_is_invalid_and_the_one_issued_is_valid(console, world, driver, tmp_path):
    found = (await driver.issuer.get(f"/credentials/{world.own_credential}",
                                  headers=driver.registrar(world.receiver))).json()
    tampered = tamper(found["credential"])
    console.open("/verify")
    console.paste("#credential", json.dumps(tampered) if isinstance(tampered, dict) else tampered)
    console.submit("form[action='/verify'] button[type=submit]")
    assert "invalid" in console.text("[data-testid=result] h2")
    assert console.browser.find_elements(By.CSS_SELECTOR, "[data-testid=result] li")  # the reasons
    console.shot("verify", docs=True)

    upload = tmp_path / "credential.json"  # the credential as issued, uploaded as a file: valid
    upload.write_text(json.dumps(found["credential"]) if isinstance(found["credential"], dict) else found["credential"])
    console.paste("#credential", "")
    console.browser.find_element(By.ID, "file").send_keys(str(upload))
    console.submit("form[action='/verify'] button[type=submit]")
    assert "valid" == console.text("[data-testid=result] h2 .badge")


def test_another_institutions_case_is_not_found(browser, running_stack, axe_source, screenshots, world):
    console = Console(browser, running_stack.urls["console"], axe_source, screenshots)
    browser.delete_all_cookies()
    console.sign_in(running_stack.servers.identity.token(world.source, "registrar"))
    console.open(f"/cases/{world.case(0)}")
    assert console.text("h1") == "Not found"
    assert world.learner not in console.text()
    console.shot("not-found", docs=True)


def test_forms_without_the_session_csrf_token_are_refused_operators_are_not_signed_in_and_pages_are_not_cached(
        running_stack, world):
    url = running_stack.urls["console"]
    with httpx.Client(base_url=url) as client:
        signin = client.get("/signin")
        cookie = signin.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert signin.headers["cache-control"] == "no-store"
        token = running_stack.servers.identity.token(world.receiver, "registrar")
        refused = client.post("/signin", data={"token": token, "csrf": "guessed"})
        assert refused.status_code == 403
        csrf = signin.text.split('name="csrf" value="')[1].split('"')[0]
        operator = client.post("/signin", data={"token": running_stack.servers.identity.token(), "csrf": csrf})
        assert operator.status_code == 422 and "operator" in operator.text  # operators read no learner data
        signed_in = client.post("/signin", data={"token": token, "csrf": csrf})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/queue"
        queue = client.get("/queue")
        assert queue.status_code == 200 and queue.headers["cache-control"] == "no-store"
        decided = client.post(f"/cases/{world.case(1)}/decision", data={"outcome": "denied", "reasons": "x"})
        assert decided.status_code == 403  # no CSRF token: nothing reaches the recognition API


# ------------------------------------------------------------------------------------------------ helpers


def tamper(credential):
    """The credential with its claimed credits changed after signing: its proof (or JWS signature) no longer
    matches."""
    if isinstance(credential, dict) and "proof" in credential:
        changed = json.loads(json.dumps(credential))
        changed["credentialSubject"]["achievement"]["name"] = "Advanced machine learning"
        return changed
    enveloped = isinstance(credential, dict)
    jws = credential["id"].split(",", 1)[1] if enveloped else credential
    header, payload, signature = jws.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    (claims.get("vc") or claims)["credentialSubject"]["achievement"]["name"] = "Advanced machine learning"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    jws = f"{header}.{forged}.{signature}"
    return {**credential, "id": credential["id"].split(",", 1)[0] + "," + jws} if enveloped else jws
