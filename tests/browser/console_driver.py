"""A small driver of the console in the browser: open a page, check it with axe-core, sign in, fill forms, save the
screenshot. And the world the browser tests share: two institutions, a programme, a learner, referred cases, set up
through the services' public interfaces as institutions do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from creditflow.events import (
    CreditValue,
    LearningOutcome,
    Level,
    Module,
    ProgrammePublished,
    ProgrammePublishedData,
    RecognitionPolicyPublished,
    RecognitionPolicyPublishedData,
    RecognitionRequested,
    RecognitionRequestedData,
    Requirement,
)
from e2e_driver import ACCREDITED, Driver, achievement_body, eventually
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

BLOCKING = ("serious", "critical")


class Console:
    def __init__(self, browser: WebDriver, base_url: str, axe_source: str, screenshots: dict[str, Path]) -> None:
        self.browser, self.base_url, self.axe_source, self.screenshots = browser, base_url, axe_source, screenshots

    def open(self, path: str) -> None:
        self.browser.get(self.base_url + path)
        self.checked()

    def checked(self) -> None:
        """axe-core on the page as it stands: no serious or critical violation (WCAG 2.x A/AA and best practice)."""
        self.browser.execute_script(self.axe_source)
        result = self.browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));")
        assert isinstance(result, list), f"axe-core failed on {self.browser.current_url}: {result}"
        blocking = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                    for v in result if v.get("impact") in BLOCKING]
        assert not blocking, f"accessibility violations on {self.browser.current_url}: {blocking}"

    def text(self, css: str = "main") -> str:
        return self.browser.find_element(By.CSS_SELECTOR, css).text

    def fill(self, css: str, value: str) -> None:
        field = self.browser.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(value)

    def paste(self, css: str, value: str) -> None:
        """Long values (tokens, credentials) set at once, as a paste does, instead of typed key by key."""
        field = self.browser.find_element(By.CSS_SELECTOR, css)
        self.browser.execute_script("arguments[0].value = arguments[1];", field, value)

    def click(self, css: str) -> None:
        self.browser.find_element(By.CSS_SELECTOR, css).click()

    def submit(self, css: str) -> None:
        """Submit a form and wait for the next page, then check it."""
        old = self.browser.find_element(By.TAG_NAME, "html")
        self.click(css)
        wait = WebDriverWait(self.browser, 30)
        wait.until(lambda _: gone(old))
        # The old page going stale is only the start: a POST answered 303 loads once more, so wait for the page that
        # stays before reading it.
        wait.until(lambda browser: browser.execute_script("return document.readyState") == "complete")
        self.checked()

    def sign_in(self, token: str) -> None:
        self.open("/signin")
        self.paste("#token", token)
        self.submit("form[action='/signin'] button[type=submit]")

    def sign_out(self) -> None:
        if self.browser.find_elements(By.CSS_SELECTOR, "form[action='/signout']"):
            self.submit("form[action='/signout'] button")

    def shot(self, name: str, docs: bool = False) -> Path:
        path = self.screenshots["docs" if docs else "other"] / f"{name}.png"
        self.browser.save_screenshot(str(path))
        return path


def gone(element: Any) -> bool:
    """Whether the page holding `element` has been replaced. Chromium says so in two ways: a stale element, or, when
    asked while the next document is being swapped in, "Node with given id does not belong to the document" (an
    "unknown error", which Selenium's staleness_of lets through: it failed the sign-out of a browser test 3 times)."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


@dataclass(frozen=True)
class World:
    receiver: str
    receiver_name: str
    source: str
    source_name: str
    programme_id: str
    learner: str
    own_credential: str
    offered_credential: str
    cases: tuple[str, ...]

    def case(self, index: int) -> str:
        return self.cases[index]


async def register(driver: Driver, name: str, quality_assurance: list[dict[str, Any]], *achievements: dict[str, Any]
                   ) -> tuple[str, dict[str, str]]:
    institution_id = f"uni-{uuid.uuid4().hex[:8]}"
    registered = await driver.issuer.post("/institutions", headers={"Authorization": f"Bearer {driver.token()}"}, json={
        "institution_id": institution_id, "name": name, "country": "EE", "credit_frameworks": ["ects"],
        "quality_assurance": quality_assurance})
    assert registered.status_code == 201, registered.text
    integration = {"Authorization": f"Bearer {driver.token(institution_id, 'issuer-integration')}"}
    for overrides in achievements:
        published = await driver.issuer.post("/achievements", headers=integration,
                                             json=achievement_body(institution_id, **overrides))
        assert published.status_code == 201, published.text
    return institution_id, integration


async def build_world(driver: Driver, cases: int) -> World:
    """A receiving institution (accredited, with a policy and a programme) and an unaccredited source whose credential
    the learner offers for recognition, so every case is referred to a registrar."""
    suffix = uuid.uuid4().hex[:4]
    receiver_name, source_name = f"Tallinn University {suffix}", f"Open Academy {suffix}"
    receiver, receiver_integration = await register(driver, receiver_name, ACCREDITED, {})
    source, source_integration = await register(driver, source_name, [], {})
    programme = ProgrammePublishedData(
        programme_id=f"msc-{suffix}", institution_id=receiver, version=1, effective_from=date(2025, 1, 1),
        title="MSc Data Science", total_credits=CreditValue(value=12, framework="ects"),
        modules=[Module(module_id="mod-ml", title="Machine learning", credits=CreditValue(value=6, framework="ects"),
                        level=Level(eqf=6), learning_outcomes=[LearningOutcome(
                            statement="Train and evaluate a classifier")])],
        requirements=[Requirement(requirement_id="core", kind="required", options=["ach-ml-intro"]),
                      Requirement(requirement_id="advanced", kind="required", options=["ach-deep-learning"])],
        max_recognised_share=0.5)
    policy = RecognitionPolicyPublishedData(institution_id=receiver, version=1, effective_from=date(2025, 1, 1),
                                            accepted_qa_bodies=["EKKA"])
    await driver.publish(ProgrammePublished(producer=receiver, data=programme),
                         RecognitionPolicyPublished(producer=receiver, data=policy))
    registrar = driver.registrar(receiver)

    async def programme_known() -> bool:
        rules = (await driver.recognition.get("/rules", headers=registrar)).json()
        listed = (await driver.stacking.get("/programmes", headers=registrar)).json()
        return bool(rules["policy"]) and programme.programme_id in rules["programmes"] and any(
            p["programme_id"] == programme.programme_id for p in listed)

    await eventually(programme_known, "recognition and stacking to receive the programme", timeout_s=90)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    own = await driver.award(receiver_integration, learner)
    offered = await driver.award(source_integration, learner)
    await driver.award(source_integration, learner)  # never offered to the receiver: hidden from it without consent
    requests = [RecognitionRequested(producer=receiver, learner_id=learner, data=RecognitionRequestedData(
        case_id=f"case-{uuid.uuid4().hex[:8]}", institution_id=receiver, programme_id=programme.programme_id,
        module_ids=["mod-ml"], credential_ids=[offered["credential_id"]])) for _ in range(cases)]
    await driver.publish(*requests)
    ids = {r.data.case_id for r in requests}

    async def referred() -> bool:
        queue = (await driver.recognition.get("/cases", headers=registrar)).json()
        return ids <= {c["case_id"] for c in queue if c["status"] == "awaiting-registrar"}

    await eventually(referred, "the cases referred to the registrar", timeout_s=90)
    await driver.record(learner, registrar, until=lambda r: len(r["achievements"]) == 2 and r["progress"],
                        timeout_s=90)
    await driver.record(learner, driver.registrar(source), until=lambda r: len(r["achievements"]) == 2, timeout_s=90)
    return World(receiver, receiver_name, source, source_name, programme.programme_id, learner,
                 own["credential_id"], offered["credential_id"], tuple(r.data.case_id for r in requests))
