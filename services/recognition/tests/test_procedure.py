"""The recognition procedure as a state machine, without Kafka or MongoDB: the file check and its four-month clock,
automatic and registrar decisions, one appeal per decision, invalidation, overdue notices, and precedents."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from recognition_factories import NOW, RECEIVER, agreement, case, module, offered, policy

from creditflow.events import (
    Actor,
    AssessmentType,
    CreditValue,
    RecognisedCredit,
    RecognitionAppealed,
    RecognitionAppealedData,
    RecognitionRequested,
    RecognitionRequestedData,
)
from creditflow.recognition import procedure
from creditflow.recognition.domain import Precedent, decide, fingerprint
from creditflow.recognition.procedure import CaseError

LEARNER = "learner-1"
DUE = datetime(2027, 1, 1, 12, tzinfo=UTC)  # NOW + four months


def requested(**overrides) -> RecognitionRequested:
    data = RecognitionRequestedData(case_id="case-1", institution_id=RECEIVER, programme_id="msc-ds",
                                    module_ids=["mod-ml"], credential_ids=["urn:uuid:c1"])
    return RecognitionRequested(producer=RECEIVER, learner_id=LEARNER, correlation_id="corr-1",
                                data=data.model_copy(update=overrides))


def opened(missing=()):
    state, events = procedure.open_case(requested(), list(missing), NOW)
    return state, events


def decided(the_case=None, the_policy=None):
    """A case opened and decided automatically (by default granted)."""
    state, _ = opened()
    decision = decide(the_case or case(), the_policy or policy(), [], [], NOW)
    state, events = procedure.record_decision(state, decision, NOW)
    return state, events


def referred():
    """A case referred to a registrar: the provider's quality cannot be established."""
    return decided(case(replace(offered(), issuer_quality=())))


def credit(module_id="mod-ml", value=6.0):
    return RecognisedCredit(module_id=module_id, credits=CreditValue(value=value, framework="ects"),
                            credential_ids=["urn:uuid:c1"])


def by_registrar(state, outcome="granted", recognised=None, reasons=("checked by hand",), conditions=(), at=NOW):
    return procedure.registrar_decision(state, registrar="registrar Anna (uni-tartu)", outcome=outcome,
                                        recognised=[credit()] if recognised is None else recognised,
                                        reasons=list(reasons), conditions=list(conditions), now=at)


def appeal_of(state, decision_id=None, learner=LEARNER, event_id=None):
    return RecognitionAppealed(producer=learner, learner_id=learner, event_id=event_id or uuid.uuid4(),
                               data=RecognitionAppealedData(case_id=state.case_id, institution_id=RECEIVER,
                                                            decision_id=decision_id or state.latest.data.decision_id,
                                                            grounds="the syllabus shows otherwise"))


# ------------------------------------------------------------------------------------------------ the file


def test_a_complete_file_starts_the_four_month_clock_and_says_so():
    state, [checked] = opened()
    assert state.status == "incomplete" and state.file_complete_at == NOW and state.decision_due == DUE
    assert checked.data.complete and checked.data.missing == [] and checked.data.decision_due == DUE
    assert (checked.learner_id, checked.correlation_id, checked.causation_id) == (
        LEARNER, "corr-1", state.request_event_id)
    assert checked.data.case_id == "case-1" and checked.data.programme_id == "msc-ds"
    assert state.module_ids == ["mod-ml"] and state.credential_ids == ["urn:uuid:c1"]
    assert state.applied == [state.request_event_id]


def test_an_incomplete_file_has_no_date_until_what_it_lacks_arrives():
    state, [checked] = opened(missing=["credential c1 is not known to creditflow yet"])
    assert state.decision_due is None and state.file_complete_at is None
    assert not checked.data.complete and checked.data.missing == ["credential c1 is not known to creditflow yet"]
    assert procedure.complete_file(state, state.missing, NOW) == (state, [])  # nothing new arrived
    later = NOW + timedelta(days=3)
    partly, [again] = procedure.complete_file(state, ["another thing"], later)
    assert partly.decision_due is None and not again.data.complete
    done, [complete] = procedure.complete_file(partly, [], later)
    assert done.file_complete_at == later and done.decision_due == procedure.add_months(later, 4)
    assert complete.data.complete and complete.event_id not in (checked.event_id, again.event_id)
    assert procedure.complete_file(done, [], later) == (done, [])


def test_the_same_step_twice_makes_the_same_event_and_each_decision_its_own():
    assert opened()[1][0].event_id == opened()[1][0].event_id
    assert decided()[1][0].event_id == decided()[1][0].event_id
    state, [referral] = referred()
    _, [decision] = by_registrar(state)
    assert len({opened()[1][0].event_id, referral.event_id, decision.event_id}) == 3


@pytest.mark.parametrize(("start", "months", "due"), [
    (datetime(2026, 10, 31, tzinfo=UTC), 4, datetime(2027, 2, 28, tzinfo=UTC)),
    (datetime(2027, 10, 31, tzinfo=UTC), 4, datetime(2028, 2, 29, tzinfo=UTC)),  # a leap year
    (datetime(2026, 9, 1, 12, tzinfo=UTC), 4, datetime(2027, 1, 1, 12, tzinfo=UTC)),
    (datetime(2026, 1, 15, tzinfo=UTC), 12, datetime(2027, 1, 15, tzinfo=UTC)),
    (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 4, 30, tzinfo=UTC)),
])
def test_four_months_later_is_the_same_day_or_the_end_of_a_shorter_month(start, months, due):
    assert procedure.add_months(start, months) == due


# ------------------------------------------------------------------------------------------------ decisions


def test_an_automatic_decision_is_recorded_with_its_trace_and_the_case_is_decided():
    state, [event] = decided()
    data = event.data
    assert state.status == "decided" and state.latest.data == data
    assert (data.decision_id, data.outcome, data.decided_by, data.stage, data.supersedes) == (
        "case-1.d1", "granted", "automatic", "first-instance", None)
    assert data.recognised[0].module_id == "mod-ml" and data.credential_ids == ["urn:uuid:c1"]
    assert data.findings and data.reasons and data.policy_version == 1
    assert event.causation_id == state.request_event_id and event.correlation_id == "corr-1"
    # A registrar's decision on it may serve as a precedent for the same achievement and module.
    [basis] = state.bases
    assert (basis.module_id, basis.source_institution_id, basis.achievement_id) == ("mod-ml", "mooc-x", "ach-ml")


def test_a_decision_carries_its_conditions_agreements_and_precedents():
    state, _ = opened()
    participation = decide(case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY)), policy(), [], [], NOW)
    _, [conditional] = procedure.record_decision(state, participation, NOW)
    assert conditional.data.conditions == ["pass the assessment of module mod-ml (Machine learning)"]
    under_agreement = decide(case(), policy(), [agreement()], [], NOW)
    after, [event] = procedure.record_decision(state, under_agreement, NOW)
    assert event.data.agreement_ids == ["ag-1"] and after.bases == []  # an agreement is no precedent
    precedent = Precedent(decision_id="dec-0", module_id="mod-ml", source_institution_id="mooc-x",
                          achievement_id="ach-ml", fingerprint=fingerprint(offered().achievement, module(), 1),
                          verdict="granted", share=1.0, basis="equivalence", decided_by="registrar:anna")
    _, [followed] = procedure.record_decision(state, decide(case(), policy(), [], [precedent], NOW), NOW)
    assert followed.data.precedent_ids == ["dec-0"]


def test_a_referral_waits_for_a_registrar_and_a_file_still_missing_something_is_not_decided():
    state, [event] = referred()
    assert state.status == "awaiting-registrar" and event.data.outcome == "referred"
    incomplete, _ = opened(missing=["something"])
    assert procedure.record_decision(incomplete, decide(case(), policy(), [], [], NOW), NOW) == (incomplete, [])


def test_a_re_evaluation_to_the_same_result_says_nothing_and_a_different_one_supersedes():
    state, _ = referred()
    same = decide(case(replace(offered(), issuer_quality=())), policy(), [], [], NOW)
    assert procedure.record_decision(state, same, NOW, "re-evaluation") == (state, [])
    granted = decide(case(), policy(), [], [], NOW)
    after, [event] = procedure.record_decision(state, granted, NOW, "re-evaluation", cause="policy-2")
    assert event.data.supersedes == "case-1.d1" and event.data.decision_id == "case-1.d2"
    assert event.data.stage == "re-evaluation" and event.causation_id == "policy-2"
    assert after.status == "decided" and len(after.decisions) == 2
    # A decided case is not re-decided automatically.
    assert procedure.record_decision(after, same, NOW, "re-evaluation") == (after, [])


def test_a_registrar_decides_a_referred_case_naming_themselves_and_keeping_the_analysis():
    state, [referral] = referred()
    later = NOW + timedelta(days=1)
    after, [event] = by_registrar(state, at=later)
    data = event.data
    assert after.status == "decided" and after.latest.at == later and event.occurred_at == later
    assert (data.decided_by, data.outcome, data.stage, data.supersedes, data.decision_id) == (
        "registrar Anna (uni-tartu)", "granted", "first-instance", "case-1.d1", "case-1.d2")
    assert data.findings == referral.data.findings and data.reasons == ["checked by hand"]
    assert data.credential_ids == ["urn:uuid:c1"] and data.policy_version == 1
    # The event names the person behind the request, from their token.
    anna = Actor(person="anna@uni-tartu.example", institution_id=RECEIVER, roles=["registrar"])
    _, [signed] = procedure.registrar_decision(state, registrar="registrar Anna (uni-tartu)", outcome="granted",
                                               recognised=[credit()], reasons=["checked"], conditions=[], now=later,
                                               actor=anna)
    assert signed.actor == anna


@pytest.mark.parametrize(("outcome", "recognised", "conditions", "status", "detail"), [
    ("granted", [credit("mod-other")], (), 422, "recognised.module_id: mod-other not a target module of this case "
                                               "(mod-ml)"),
    ("granted", [], (), 422, "recognised: a granted decision recognises at least one module"),
    ("partial", [], (), 422, "recognised: a partial decision recognises at least one module"),
    ("denied", [credit()], (), 422, "recognised: a denied decision recognises no credits"),
    ("conditional", [credit()], ("pass the exam",), 422, "recognised: a conditional decision recognises no credits"),
    ("conditional", [], (), 422, "conditions: a conditional decision states its conditions"),
])
def test_a_registrar_decision_that_breaks_a_rule_is_refused_naming_the_field(outcome, recognised, conditions, status,
                                                                             detail):
    state, _ = referred()
    with pytest.raises(CaseError) as refused:
        by_registrar(state, outcome=outcome, recognised=recognised, conditions=conditions)
    assert (refused.value.status, refused.value.detail) == (status, detail)


def test_a_granted_decision_recognises_every_target_module():
    state, _ = decided(case(module_ids=("mod-ml",)))
    two = state.model_copy(update={"module_ids": ["mod-ml", "mod-stats"], "status": "awaiting-registrar"})
    with pytest.raises(CaseError) as refused:
        by_registrar(two)
    assert (refused.value.status, refused.value.detail) == (
        422, "recognised: a granted decision recognises every target module; use partial")
    with pytest.raises(CaseError) as refused:
        by_registrar(two, recognised=[credit("mod-x"), credit("mod-y")])
    assert refused.value.detail == ("recognised.module_id: mod-x, mod-y not a target module of this case "
                                    "(mod-ml, mod-stats)")
    after, [event] = by_registrar(two, outcome="partial")
    assert event.data.outcome == "partial"


def test_a_registrar_may_deny_or_set_conditions():
    state, _ = referred()
    _, [denied] = by_registrar(state, outcome="denied", recognised=[])
    assert denied.data.outcome == "denied" and denied.data.recognised == []
    _, [conditional] = by_registrar(state, outcome="conditional", recognised=[], conditions=["pass the exam"])
    assert conditional.data.conditions == ["pass the exam"]


def test_a_registrar_decides_only_referred_or_appealed_cases():
    state, _ = decided()
    with pytest.raises(CaseError) as refused:
        by_registrar(state)
    assert refused.value.status == 409
    assert refused.value.detail == ("case case-1 is decided: a registrar decides only referred or appealed cases")


def test_a_registrar_decision_sent_again_with_its_request_id_is_the_decision_made_not_a_second_one():
    state, _ = referred()
    state, [first] = procedure.registrar_decision(state, registrar="registrar Anna (uni-tartu)", outcome="denied",
                                                  recognised=[], reasons=["no"], conditions=[], now=NOW,
                                                  request_id="r-1")
    again, events = procedure.registrar_decision(state, registrar="registrar Anna (uni-tartu)", outcome="denied",
                                                 recognised=[], reasons=["no"], conditions=[], now=NOW,
                                                 request_id="r-1")
    assert (again, events) == (state, [])
    assert state.latest.request_id == "r-1" and state.latest.data == first.data
    with pytest.raises(CaseError):  # another request is a second decision: refused, the case is decided
        procedure.registrar_decision(state, registrar="registrar Anna (uni-tartu)", outcome="denied", recognised=[],
                                     reasons=["no"], conditions=[], now=NOW, request_id="r-2")


# ------------------------------------------------------------------------------------------------ appeals


def test_an_appeal_reopens_the_case_once_with_a_new_date_and_the_review_supersedes():
    state, _ = by_registrar(referred()[0], outcome="denied", recognised=[])
    state = state.model_copy(update={"overdue_notified": state.decision_due})
    appealed_at = NOW + timedelta(days=10)
    appeal = appeal_of(state)
    after, events = procedure.appeal(state, appeal, appealed_at)
    assert events == [] and after.status == "appealed" and after.latest.appealed
    assert after.decision_due == procedure.add_months(appealed_at, 4) and after.overdue_notified is None
    assert not after.decisions[0].appealed
    assert procedure.appeal(after, appeal, appealed_at) == (after, [])  # redelivered
    with pytest.raises(CaseError) as refused:
        procedure.appeal(after, appeal_of(after), appealed_at)
    assert (refused.value.status, refused.value.detail) == (
        409, "data.decision_id: decision case-1.d2 was already appealed; a decision may be appealed once")
    reviewed, [review] = by_registrar(after)
    assert review.data.stage == "review" and review.data.supersedes == "case-1.d2"
    assert reviewed.status == "decided" and not reviewed.latest.appealed
    again, _ = procedure.appeal(reviewed, appeal_of(reviewed), appealed_at)  # the review is a new decision
    assert again.status == "appealed" and [d.appealed for d in again.decisions] == [False, True, True]


@pytest.mark.parametrize(("what", "status", "detail"), [
    ("another learner", 403, "learner_id: case case-1 belongs to another learner"),
    ("a superseded decision", 409, "data.decision_id: case-1.d1 is not the case's current decision (case-1.d2)"),
    ("a referral", 409, "case case-1 is awaiting-registrar (referred): only a decision may be appealed"),
    ("an invalidated decision", 409, "case case-1 is invalidated (invalidated): only a decision may be appealed"),
])
def test_an_appeal_of_what_cannot_be_appealed_is_refused(what, status, detail):
    if what == "another learner":
        state, _ = decided()
        event = appeal_of(state, learner="someone-else")
    elif what == "a superseded decision":
        state, _ = by_registrar(referred()[0])
        event = appeal_of(state, decision_id="case-1.d1")
    elif what == "a referral":
        state, _ = referred()
        event = appeal_of(state)
    else:
        state, _ = procedure.invalidate(decided()[0], "urn:uuid:c1", "fraud", NOW, "revocation-1")
        event = appeal_of(state)
    with pytest.raises(CaseError) as refused:
        procedure.appeal(state, event, NOW)
    assert (refused.value.status, refused.value.detail) == (status, detail)


def test_an_appeal_before_any_decision_is_refused():
    state, _ = opened(missing=["something"])
    with pytest.raises(CaseError, match=r"data.decision_id: case-1.d1 is not the case's current decision \(none yet\)"):
        procedure.appeal(state, appeal_of(state, decision_id="case-1.d1"), NOW)


# ------------------------------------------------------------------------------------------------ invalidation


def test_revoking_a_credential_the_decision_relied_on_invalidates_it():
    state, _ = decided()
    later = NOW + timedelta(days=40)
    after, [event] = procedure.invalidate(state, "urn:uuid:c1", "academic misconduct", later, "revocation-1")
    data = event.data
    assert after.status == "invalidated" and event.causation_id == "revocation-1" and event.occurred_at == later
    assert (data.outcome, data.stage, data.supersedes, data.decided_by, data.decision_id) == (
        "invalidated", "invalidation", "case-1.d1", "automatic", "case-1.d2")
    assert data.reasons == ["credential urn:uuid:c1 was revoked by its issuer: academic misconduct"]
    assert data.credential_ids == ["urn:uuid:c1"] and data.policy_version == 1 and data.recognised == []
    assert procedure.invalidate(after, "urn:uuid:c1", "again", later, "revocation-2") == (after, [])


def test_a_revocation_leaves_alone_decisions_that_did_not_rely_on_it_denials_and_open_cases():
    state, _ = decided()
    assert procedure.invalidate(state, "urn:uuid:other", "fraud", NOW, "r") == (state, [])
    denied, _ = by_registrar(referred()[0], outcome="denied", recognised=[])
    assert procedure.invalidate(denied, "urn:uuid:c1", "fraud", NOW, "r") == (denied, [])
    waiting, _ = referred()
    assert procedure.invalidate(waiting, "urn:uuid:c1", "fraud", NOW, "r") == (waiting, [])


# ------------------------------------------------------------------------------------------------ overdue


def test_an_open_case_past_its_date_is_noticed_once_per_date_and_flagged():
    state, _ = referred()
    assert procedure.notice_overdue(state, DUE - timedelta(seconds=1)) == (state, [])
    after, [notice] = procedure.notice_overdue(state, DUE)
    assert after.overdue and not state.overdue and after.overdue_notified == DUE
    assert notice.data.decision_due == DUE and notice.data.waiting_for == "a registrar's decision"
    assert notice.data.case_id == "case-1" and notice.data.institution_id == RECEIVER
    assert procedure.notice_overdue(after, DUE + timedelta(days=9)) == (after, [])
    # An appeal sets a new date; when that passes, a new notice.
    denied, _ = by_registrar(after, outcome="denied", recognised=[])
    appealed, _ = procedure.appeal(denied, appeal_of(denied), DUE)
    assert not appealed.overdue
    new_due = procedure.add_months(DUE, 4)
    flagged, [second] = procedure.notice_overdue(appealed, new_due)
    assert second.data.waiting_for == "a registrar's review of the appeal" and second.event_id != notice.event_id
    assert flagged.overdue


def test_decided_and_undated_cases_are_never_overdue():
    state, _ = decided()
    assert procedure.notice_overdue(state, DUE + timedelta(days=400)) == (state, [])
    assert not state.model_copy(update={"overdue_notified": state.decision_due}).overdue
    incomplete, _ = opened(missing=["something"])
    assert procedure.notice_overdue(incomplete, DUE + timedelta(days=400)) == (incomplete, [])


def test_an_incomplete_file_with_a_date_waits_for_the_complete_file():
    state, _ = opened(missing=["something"])
    dated = state.model_copy(update={"decision_due": DUE})
    _, [notice] = procedure.notice_overdue(dated, DUE)
    assert notice.data.waiting_for == "the complete file"


# ------------------------------------------------------------------------------------------------ precedents


def test_a_registrar_decision_becomes_a_precedent_per_module_with_its_share():
    state, _ = referred()
    assert procedure.precedents_from(state, {"mod-ml": 6}) == []  # a referral decides nothing
    granted, _ = by_registrar(state, recognised=[credit(value=6)])
    [precedent] = procedure.precedents_from(granted, {"mod-ml": 6})
    assert (precedent.verdict, precedent.share, precedent.basis, precedent.decided_by) == (
        "granted", 1.0, "equivalence", "registrar Anna (uni-tartu)")
    assert (precedent.decision_id, precedent.module_id, precedent.source_institution_id, precedent.achievement_id) == (
        "case-1.d2", "mod-ml", "mooc-x", "ach-ml")
    assert precedent.fingerprint == state.bases[0].fingerprint
    partial, _ = by_registrar(state, outcome="partial", recognised=[credit(value=3)])
    [half] = procedure.precedents_from(partial, {"mod-ml": 6})
    assert (half.verdict, half.share) == ("partial", 0.5)
    denied, _ = by_registrar(state, outcome="denied", recognised=[])
    assert [(p.verdict, p.share, p.basis) for p in procedure.precedents_from(denied, {"mod-ml": 6})] == [
        ("denied", 0.0, "equivalence")]
    conditional, _ = by_registrar(state, outcome="conditional", recognised=[], conditions=["exam"])
    assert [p.verdict for p in procedure.precedents_from(conditional, {"mod-ml": 6})] == ["conditional"]


def test_a_precedent_keeps_the_basis_and_caps_the_share_at_the_whole_module():
    state, _ = referred()
    electives, _ = by_registrar(state, outcome="partial", recognised=[credit(value=3).model_copy(
        update={"basis": "elective"})])
    [precedent] = procedure.precedents_from(electives, {"mod-ml": 6})
    assert (precedent.basis, precedent.share) == ("elective", 0.5)
    more, _ = by_registrar(state, recognised=[credit(value=9)])
    assert procedure.precedents_from(more, {"mod-ml": 6})[0].share == 1.0
    # A module the programme no longer lists gives no share to follow.
    assert [(p.verdict, p.share) for p in procedure.precedents_from(more, {})] == [("partial", 0.0)]


def test_automatic_and_invalidated_decisions_set_no_precedent():
    state, _ = decided()
    assert procedure.precedents_from(state, {"mod-ml": 6}) == []
    invalidated, _ = procedure.invalidate(by_registrar(referred()[0])[0], "urn:uuid:c1", "fraud", NOW, "r")
    assert procedure.precedents_from(invalidated, {"mod-ml": 6}) == []
