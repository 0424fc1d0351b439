"""The console's pages. Each handler reads what it shows from the services' APIs with the session's token, hands it
to a pure view function (views.py) and a template; a form posts to the API that decides, and the API's refusal is
shown next to the field it names. Every POST carries the session's CSRF token."""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from creditflow.events import CreditFramework
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from . import views
from .apis import ApiError, Apis
from .session import COOKIE, Session, SessionCodec
from .settings import ConsoleSettings

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
MAX_UPLOAD_BYTES = 512 * 1024


@dataclass
class Console:
    settings: ConsoleSettings
    codec: SessionCodec
    apis: Apis
    clock: Callable[[], datetime]


class SignInFirst(Exception):
    def __init__(self, target: str, message: str | None = None) -> None:
        self.target, self.message = target, message


class PageError(Exception):
    """An API refusal shown as a page of its own (not found, forbidden, unavailable)."""

    def __init__(self, error: ApiError) -> None:
        self.error = error


def router(console: Console) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    apis = console.apis

    def set_cookie(response: Response, session: Session) -> None:
        response.set_cookie(COOKIE, console.codec.encode(session), max_age=console.codec.max_age_s, path="/",
                            secure=console.settings.secure_cookies, httponly=True, samesite="strict")

    def session_of(request: Request) -> Session | None:
        return console.codec.decode(request.cookies.get(COOKIE), console.clock())

    def render(request: Request, template: str, session: Session, http_status: int = 200, fresh: bool = False,
               **context: Any) -> Response:
        response = TEMPLATES.TemplateResponse(request, template, {"session": session, "now": console.clock(),
                                                                   **context}, status_code=http_status)
        if fresh:
            set_cookie(response, session)
        return response

    async def signed_in(request: Request) -> Session:
        session = session_of(request)
        if session is None or not session.signed_in(console.clock()):
            raise SignInFirst(request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                              "Your session has ended: sign in again." if session and session.token else None)
        return session

    Registrar = Annotated[Session, Depends(signed_in)]

    async def form_of(request: Request, session: Session) -> FormData:
        form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        csrf = form.get("csrf")
        if not session.csrf_matches(csrf if isinstance(csrf, str) else None):
            raise PageError(ApiError("console", 403, {"title": "Forbidden",
                                                     "detail": "the form is out of date or not from this console; "
                                                               "reload the page and send it again"}))
        return form

    async def call(service: str, method: str, path: str, session: Session, **kwargs: Any) -> Any:
        try:
            return await apis.json(service, method, path, session.token, **kwargs)
        except ApiError as exc:
            if exc.status == 401:
                raise SignInFirst("/", f"The {service} service refused your token: {exc.detail}") from exc
            raise

    async def page(service: str, path: str, session: Session) -> Any:
        """A GET whose refusal is the whole page's answer (404 not found, 403, a service down)."""
        try:
            return await call(service, "GET", path, session)
        except ApiError as exc:
            raise PageError(exc) from exc

    # ------------------------------------------------------------------------------------------ sign in / out

    @pages.get("/")
    async def home(request: Request) -> Response:
        session = session_of(request)
        return RedirectResponse("/queue" if session and session.signed_in(console.clock()) else "/signin", 303)

    @pages.get("/signin")
    async def signin_form(request: Request, next: str = "/queue", message: str | None = None) -> Response:
        session = session_of(request) or Session.anonymous()
        return render(request, "signin.html", session, fresh=True, next=local_path(next), message=message, errors={})

    @pages.post("/signin")
    async def signin(request: Request) -> Response:
        session = session_of(request)
        if session is None:  # no cookie yet (or a stale one): show the form with a fresh CSRF token
            return RedirectResponse("/signin?message=" + quote("Sign in again: the form had expired."), 303)
        form = await form_of(request, session)
        target = local_path(str(form.get("next") or "/queue"))
        token = str(form.get("token") or "").strip()
        try:
            claims = views.token_claims(token)
            if claims.get("inst") is None:
                raise views.NotAToken("token: an operator's token reads no learner data; sign in with a "
                                      "registrar's token of your institution")
            # The services decide whether the token is good: one authorised call, before anything is shown.
            await apis.json("recognition", "GET", "/rules", token)
        except views.NotAToken as exc:
            return render(request, "signin.html", session, http_status=422, next=target, errors={"token": [str(exc)]})
        except ApiError as exc:
            return render(request, "signin.html", session, http_status=422 if exc.status < 500 else 502, next=target,
                          errors={"token": [f"The {exc.service} service refused this token: {exc.detail}"]})
        institution_id = str(claims["inst"])
        try:
            registration = await apis.json("issuer", "GET", f"/institutions/{quote(institution_id)}", token)
            institution_name = registration.get("name") or institution_id
        except ApiError:
            institution_name = institution_id  # the issuer cannot say: the id stands in for the name
        response = RedirectResponse(target, 303)
        set_cookie(response, Session.signed_in_as(token, claims, institution_name))
        return response

    @pages.post("/signout")
    async def signout(request: Request, session: Registrar) -> Response:
        await form_of(request, session)
        response = RedirectResponse("/signin?message=" + quote("You are signed out."), 303)
        response.delete_cookie(COOKIE, path="/", secure=console.settings.secure_cookies, httponly=True,
                               samesite="strict")
        return response

    # ------------------------------------------------------------------------------------------ learners

    @pages.get("/learners")
    async def lookup(request: Request, session: Registrar, learner_id: str = "") -> Response:
        if learner_id.strip():
            return RedirectResponse(f"/learners/{quote(learner_id.strip(), safe='')}", 303)
        return render(request, "lookup.html", session)

    @pages.get("/learners/{learner_id}")
    async def learner(request: Request, learner_id: str, session: Registrar) -> Response:
        path = f"/learners/{quote(learner_id, safe='')}"
        view, programmes = await asyncio.gather(page("learner-record", f"{path}/record", session),
                                                call("stacking", "GET", "/programmes", session))
        record, names = view["record"], view["institution_names"]
        now = console.clock()
        achievements = [views.achievement_view(a, names, now) for a in record["achievements"]]
        return render(request, "learner.html", session, view=view, record=record, names=names,
                      achievements=achievements, visible={a["credential_id"] for a in record["achievements"]},
                      programmes=views.latest_versions(programmes))

    @pages.get("/learners/{learner_id}/clr")
    async def clr(learner_id: str, session: Registrar) -> Response:
        clr = await page("learner-record", f"/learners/{quote(learner_id, safe='')}/clr", session)
        return Response(json.dumps(clr, indent=2), media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="clr-{_filename(learner_id)}.json"'})

    # ------------------------------------------------------------------------------------------ recognition

    @pages.get("/queue")
    async def queue(request: Request, session: Registrar, status: str = "open") -> Response:
        status = status if status in ("open", "all") else "open"
        cases = await page("recognition", f"/cases?status={status}", session)
        return render(request, "queue.html", session, cases=cases, shown=status)

    async def offered_credentials(case: dict[str, Any], session: Session) -> dict[str, views.AchievementView]:
        """The credentials a case offers, as the learner's record shows them to this institution (a case makes
        them visible to it); the case page shows ids alone if the record cannot be read."""
        try:
            view = await call("learner-record", "GET", f"/learners/{quote(case['learner_id'], safe='')}/record",
                              session)
        except ApiError:
            return {}
        now = console.clock()
        return {a["credential_id"]: views.achievement_view(a, view["institution_names"], now)
                for a in view["record"]["achievements"] if a["credential_id"] in case["credential_ids"]}

    async def case_page(request: Request, case_id: str, session: Session, status: int = 200,
                        form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None) -> Response:
        case, rules, programmes = await asyncio.gather(
            page("recognition", f"/cases/{quote(case_id, safe='')}", session),
            call("recognition", "GET", "/rules", session), call("stacking", "GET", "/programmes", session))
        offered = await offered_credentials(case, session)
        programme = views.latest_versions(programmes).get(case["programme_id"], {})
        modules = {m["module_id"]: m for m in programme.get("modules", [])}
        decisions = []
        for record in case["decisions"]:
            per_module, policy = views.module_findings(record["data"], modules, case["module_ids"])
            agreements = [a for a in rules["agreements"] if a.get("agreement_id") in record["data"]["agreement_ids"]]
            decisions.append({"record": record, "modules": per_module, "policy": policy, "agreements": agreements})
        return render(request, "case.html", session, http_status=status, case=case, programme=programme,
                      modules=modules, offered=offered, decisions=decisions, outcomes=views.DECISION_OUTCOMES,
                      form=form or {}, errors=errors or {}, decidable=case["status"] in ("awaiting-registrar", "appealed"))

    @pages.get("/cases/{case_id}")
    async def case(request: Request, case_id: str, session: Registrar) -> Response:
        return await case_page(request, case_id, session)

    @pages.post("/cases/{case_id}/decision")
    async def decide(request: Request, case_id: str, session: Registrar) -> Response:
        form = await form_of(request, session)
        case = await page("recognition", f"/cases/{quote(case_id, safe='')}", session)
        body, order = views.decision_request(dict(form), case["module_ids"], session.name or session.person or "")
        try:
            await call("recognition", "POST", f"/cases/{quote(case_id, safe='')}/decisions", session, json=body)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise PageError(exc) from exc
            return await case_page(request, case_id, session, status=exc.status, form=dict(form),
                                   errors=views.field_errors(exc.problem, order))
        return RedirectResponse(f"/cases/{quote(case_id, safe='')}?decided=1", 303)

    # ------------------------------------------------------------------------------------------ programmes

    async def progress_page(request: Request, learner_id: str, programme_id: str, session: Session,
                            form: dict[str, Any] | None = None) -> Response:
        path = f"/learners/{quote(learner_id, safe='')}/programmes/{quote(programme_id, safe='')}"
        view, programmes = await asyncio.gather(page("stacking", f"{path}/progress", session),
                                                call("stacking", "GET", "/programmes", session))
        programme = views.latest_versions(programmes)[programme_id]
        current = views.progress_page(view, programme)
        what_if, errors, status = None, {}, 200
        if form is not None:
            try:
                answer = await call("stacking", "POST", f"{path}/what-if", session, json=views.what_if_request(form))
                what_if = views.progress_page(answer, programme)
            except ApiError as exc:
                if exc.status != 422:
                    raise PageError(exc) from exc
                status = 422
                errors = views.what_if_errors(exc.problem)
        return render(request, "progress.html", session, http_status=status, learner_id=learner_id, current=current,
                      what_if=what_if, form=form or {}, errors=errors, frameworks=[f.value for f in CreditFramework])

    @pages.get("/learners/{learner_id}/programmes")
    async def choose_programme(learner_id: str, programme_id: str, _: Registrar) -> Response:
        return RedirectResponse(f"/learners/{quote(learner_id, safe='')}/programmes/{quote(programme_id, safe='')}",
                                303)

    @pages.get("/learners/{learner_id}/programmes/{programme_id}")
    async def progress(request: Request, learner_id: str, programme_id: str, session: Registrar) -> Response:
        return await progress_page(request, learner_id, programme_id, session)

    @pages.post("/learners/{learner_id}/programmes/{programme_id}/what-if")
    async def what_if(request: Request, learner_id: str, programme_id: str, session: Registrar) -> Response:
        form = await form_of(request, session)
        return await progress_page(request, learner_id, programme_id, session, form=dict(form))

    # ------------------------------------------------------------------------------------------ verification

    @pages.get("/verify")
    async def verify_form(request: Request, session: Registrar) -> Response:
        return render(request, "verify.html", session, result=None, errors={}, pasted="")

    @pages.post("/verify")
    async def verify(request: Request, session: Registrar) -> Response:
        form = await form_of(request, session)
        upload = form.get("file")
        pasted = str(form.get("credential") or "")
        if isinstance(upload, UploadFile) and upload.filename:
            pasted = (await upload.read()).decode("utf-8", errors="replace")
        try:
            credential = views.parse_pasted_credential(pasted)
        except ValueError as exc:
            return render(request, "verify.html", session, http_status=422, result=None, pasted=pasted,
                          errors={"credential": [str(exc)]})
        try:
            result = await call("issuer", "POST", "/verify", session, json={"credential": credential})
        except ApiError as exc:
            if exc.status != 422:
                raise PageError(exc) from exc
            return render(request, "verify.html", session, http_status=422, result=None, pasted=pasted,
                          errors={"credential": [exc.detail]})
        return render(request, "verify.html", session, result=result, errors={}, pasted=pasted,
                      document=views.credential_document(credential))

    return pages


def install_error_pages(app: Any, console: Console) -> None:
    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        query = f"next={quote(exc.target)}" + (f"&message={quote(exc.message)}" if exc.message else "")
        return RedirectResponse(f"/signin?{query}", 303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        session = console.codec.decode(request.cookies.get(COOKIE), console.clock()) or Session.anonymous()
        error = exc.error
        # 404 from any API: another institution's case or learner looks exactly like a missing one.
        status = error.status if error.status in (403, 404) else 502
        return TEMPLATES.TemplateResponse(request, "error.html", {"session": session, "error": error,
                                                                   "status": status}, status_code=status)


def local_path(target: str) -> str:
    """Only a path of this console may follow the sign-in: never another site."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/queue"


def _filename(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]
