"""The stacking allocator, without Kafka or MongoDB: no credit counts twice, rules and caps hold, and the same inputs
in any order give the same allocation."""

from dataclasses import replace
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from creditflow.events import CreditValue, Level, Module, ProgrammePublishedData, Requirement
from creditflow.stacking import domain
from creditflow.stacking.domain import (
    FREE,
    MAX_COMBINATIONS,
    Item,
    allocate,
    closeness,
    hypothetical,
    is_micro,
    lost,
    programme_problems,
    version_for,
)

NOW = datetime(2026, 9, 1, tzinfo=UTC)


def programme(*requirements: Requirement, total: float = 30, **overrides) -> ProgrammePublishedData:
    fields = dict(programme_id="cert-ds", institution_id="uni-tartu", version=1, effective_from=date(2025, 1, 1),
                  title="Certificate in Data Science", total_credits=CreditValue(value=total, framework="ects"),
                  requirements=list(requirements))
    return ProgrammePublishedData(**{**fields, **overrides})


def required(requirement_id: str, *options: str, **kw) -> Requirement:
    return Requirement(requirement_id=requirement_id, kind="required", options=list(options), **kw)


def elective(requirement_id: str, *options: str, **kw) -> Requirement:
    return Requirement(requirement_id=requirement_id, kind="elective", options=list(options), **kw)


def module(module_id: str) -> Module:
    return Module(module_id=module_id, title=module_id, credits=CreditValue(value=5, framework="ects"))


def item(item_id: str, *options: str, credits: float = 5, **kw) -> Item:
    fields = dict(item_id=item_id, source="credential", options=frozenset(options),
                  credits=CreditValue(value=credits, framework="ects"), awarded_at=datetime(2026, 1, 1, tzinfo=UTC),
                  eqf=6, grade="B")
    return Item(**{**fields, **kw})


def counted(progress) -> dict[str, str]:
    return {a.credential_id: a.requirement_id for a in progress.allocations}


def reasons(progress) -> dict[str, str]:
    return {e.credential_id: e.reason for e in progress.not_counted}


def test_a_credential_eligible_for_two_requirements_counts_for_one_and_the_other_is_filled_by_another():
    prog = programme(required("python", "ach-python"), elective("programming", "ach-python", "ach-r", min_items=1),
                     total=10)
    both = item("c-python", "ach-python")
    r = item("c-r", "ach-r")
    progress = allocate(prog, [both, r], NOW)
    assert counted(progress) == {"c-python": "python", "c-r": "programming"}
    assert progress.complete
    alone = allocate(prog, [both], NOW)
    assert list(counted(alone).values()).count("python") + list(counted(alone).values()).count("programming") == 1
    assert alone.missing == ("programming",) and not alone.complete


def test_elective_groups_need_their_items_or_credits():
    prog = programme(elective("three-of", "a", "b", "c", "d", min_items=3),
                     elective("ten-credits", "x", "y", min_credits=10), total=30)
    progress = allocate(prog, [item("1", "a"), item("2", "b"), item("3", "x")], NOW)
    assert progress.missing == ("three-of", "ten-credits")
    progress = allocate(prog, [item("1", "a"), item("2", "b"), item("4", "c"), item("3", "x"), item("5", "y"),
                               item("6", "unrelated", part_of=frozenset({"cert-ds"}))], NOW)
    assert progress.satisfied == ("three-of", "ten-credits") and progress.complete
    assert counted(progress)["6"] == FREE


def test_micro_credentials_alone_cannot_complete_a_programme_whose_cap_says_so():
    prog = programme(elective("any", "a", "b", "c", min_items=2), total=15, max_micro_credential_share=0.5)
    micro = [item(f"m{i}", o, micro_credential=True) for i, o in enumerate("abc")]
    progress = allocate(prog, micro, NOW)
    assert progress.credits_counted == 5 and not progress.complete
    assert reasons(progress) == {"m1": "cap reached: at most 50% of 15 credits may come from micro-credentials",
                                 "m2": "cap reached: at most 50% of 15 credits may come from micro-credentials"}
    progress = allocate(prog, [*micro, item("degree-module", "b", credits=10)], NOW)
    assert progress.complete


def test_recognised_credits_are_capped_and_their_credential_is_not_counted_again():
    prog = programme(elective("modules", "mod-1", "mod-2", "ach-1", min_items=1), total=20, max_recognised_share=0.25)
    recognised = [item(f"recognition:case-{i}.d1:mod-{i}", f"mod-{i}", source="recognition",
                       credential_ids=(f"c{i}",)) for i in (1, 2)]
    progress = allocate(prog, [*recognised, item("c1", "ach-1")], NOW)
    assert counted(progress) == {"recognition:case-1.d1:mod-1": "modules"}
    assert reasons(progress)["c1"] == "already used: counted through recognition:case-1.d1:mod-1"
    assert reasons(progress)["recognition:case-2.d1:mod-2"].startswith("cap reached: at most 25%")


def test_old_low_level_and_low_grade_credentials_do_not_count_and_say_why():
    prog = programme(elective("any", "a", min_items=1), recency_years=5, min_level=Level(eqf=5), min_grade="C")
    progress = allocate(prog, [item("old", "a", awarded_at=datetime(2018, 1, 1, tzinfo=UTC)),
                               item("low", "a", eqf=4), item("weak", "a", grade="D"),
                               item("odd", "a", grade="very good"), item("ok", "a")], NOW)
    assert counted(progress) == {"ok": "any"}
    why = reasons(progress)
    assert why["old"].startswith("too old: awarded 2018-01-01")
    assert why["low"] == "level too low: EQF 4, the programme requires EQF 5"
    assert why["weak"] == "grade D below the minimum C"
    assert "cannot be compared" in why["odd"]


def test_a_revocation_after_completion_loses_the_credential_and_breaks_the_qualification():
    prog = programme(required("core", "a", "b"), total=10)
    items = [item("ca", "a"), item("cb", "b")]
    done = allocate(prog, items, NOW)
    assert done.complete
    after = allocate(prog, [items[0], replace(items[1], revoked="revoked by the issuer: fraud")], NOW)
    assert not after.complete and lost(done.credential_ids, after) == ["cb"]
    assert reasons(after)["cb"] == "no longer valid: revoked by the issuer: fraud"


def test_credits_are_converted_to_the_programme_framework():
    prog = programme(elective("any", "a", min_items=1), total=10)
    uk = replace(item("uk", "a"), credits=CreditValue(value=20, framework="uk-cats"))
    progress = allocate(prog, [uk], NOW)
    assert progress.credits_counted == 10 and progress.complete


def test_an_unsatisfiable_programme_is_refused_with_the_field_named():
    assert programme_problems(programme(elective("e", "a", min_credits=40), total=30)) == [
        "requirements.min_credits: the requirements ask for 40 credits, more than total_credits 30"]
    assert programme_problems(programme(required("core", "ach-a"), max_micro_credential_share=0)) == [
        "requirements[0]: required component core can only be met by achievements (micro-credentials), and "
        "max_micro_credential_share is 0"]
    assert programme_problems(programme(elective("e", "a", min_items=2))) == [
        "requirements[0].min_items: 2 items from 1 options"]
    assert programme_problems(programme(award_mode="automatic")) == [
        "achievement_id: automatic award needs the qualification's achievement_id"]


def test_a_new_version_applies_to_learners_who_start_after_its_effective_date():
    v1 = programme()
    v2 = programme(version=2, effective_from=date(2026, 9, 1))
    assert version_for([v2, v1], date(2026, 3, 1)) is v1
    assert version_for([v1, v2], date(2026, 10, 1)) is v2
    assert version_for([v1, v2], date(2024, 1, 1)) is v1
    assert version_for([v1, v2], None) is v2


def test_closeness_averages_requirements_and_credits():
    prog = programme(required("a", "a"), required("b", "b"), total=20)
    assert closeness(allocate(prog, [item("ca", "a")], NOW)) == 0.375


def test_beyond_the_search_limit_each_credential_goes_to_the_first_requirement_still_unmet_in_id_order():
    # 11 credentials, each eligible for three requirements: 3^11 assignments, more than the exhaustive search tries.
    prog = programme(*(elective(r, "ach-ml", min_items=1) for r in ("r1", "r2", "r3")), total=55)
    items = [item(f"c{n:02}", "ach-ml") for n in range(11)]
    assert 3 ** len(items) > MAX_COMBINATIONS
    progress = allocate(prog, list(reversed(items)), NOW)
    # The exhaustive search would keep the first best assignment it meets: c00-c08 to r1, c09 to r2, c10 to r3.
    assert counted(progress) == {"c00": "r1", "c01": "r2", "c02": "r3", **{f"c{n:02}": "r1" for n in range(3, 11)}}
    assert progress.complete and progress.credits_counted == 55


def test_a_cap_keeps_the_required_component_before_an_elective_whatever_their_ids():
    prog = programme(required("core", "z-ach"), elective("more", "a-ach"), total=10, max_micro_credential_share=0.5)
    progress = allocate(prog, [item("a1", "a-ach", micro_credential=True), item("z1", "z-ach", micro_credential=True)],
                        NOW)
    assert counted(progress) == {"z1": "core"}
    assert reasons(progress)["a1"].startswith("cap reached")


def test_credits_exactly_at_a_cap_still_count():
    prog = programme(elective("any", "a", "b", min_items=1), total=10, max_micro_credential_share=0.5)
    assert counted(allocate(prog, [item("m1", "a", micro_credential=True)], NOW)) == {"m1": "any"}


def test_each_allocation_says_where_its_credits_come_from():
    prog = programme(elective("modules", "mod-1", "ach-1", min_items=1), total=10)
    progress = allocate(prog, [item("recognition:case-1.d1:mod-1", "mod-1", source="recognition",
                                    credential_ids=("c9",)), item("c1", "ach-1", micro_credential=True)], NOW)
    assert [(a.credential_id, a.source, a.micro_credential) for a in progress.allocations] == [
        ("c1", "credential", True), ("recognition:case-1.d1:mod-1", "recognition", False)]
    assert progress.data().allocations == list(progress.allocations)


def test_credits_counted_are_reported_to_two_decimals():
    progress = allocate(programme(elective("any", "a", min_items=1), total=10), [item("c1", "a", credits=3.333)], NOW)
    assert progress.credits_counted == 3.33


def test_an_unrelated_credential_is_ignored_and_a_recognition_into_the_programme_counts_as_free_credits():
    prog = programme(elective("any", "a", min_items=1), total=10)
    progress = allocate(prog, [item("a-unrelated", "cooking"), item("b", "a"),
                               item("recognition:case-1.d1:slot", source="recognition", credential_ids=("x",))], NOW)
    assert counted(progress) == {"b": "any", "recognition:case-1.d1:slot": FREE}
    assert "a-unrelated" not in reasons(progress)


def test_a_required_component_without_minimums_needs_every_option_and_with_one_needs_only_that():
    every = programme(required("core", "a", "b"), total=5)
    assert allocate(every, [item("c1", "a", credits=10)], NOW).missing == ("core",)
    for requirement in (required("core", "a", "b", min_items=1), required("core", "a", "b", min_credits=5),
                        elective("core", "a", "b")):
        assert allocate(programme(requirement, total=5), [item("c1", "a")], NOW).complete, requirement


def test_a_minimum_of_credits_is_met_at_that_minimum_and_not_below():
    prog = programme(elective("credits", "a", "b", min_credits=5), total=4)
    assert allocate(prog, [item("c1", "a", credits=4)], NOW).missing == ("credits",)
    assert allocate(prog, [item("c1", "a", credits=5)], NOW).satisfied == ("credits",)


def test_recency_counts_whole_years_of_365_and_a_quarter_days():
    prog = programme(elective("any", "a", min_items=1), total=5, recency_years=4)
    four_years = allocate(prog, [item("c1", "a", awarded_at=datetime(2022, 9, 1, tzinfo=UTC))], NOW)  # 1461 days
    assert four_years.complete
    a_day_more = allocate(prog, [item("c1", "a", awarded_at=datetime(2022, 8, 31, tzinfo=UTC))], NOW)
    assert reasons(a_day_more)["c1"].startswith("too old")


def test_a_credential_at_the_minimum_level_counts_and_one_without_credits_says_so():
    prog = programme(elective("any", "a", min_items=1), total=5, min_level=Level(eqf=6))
    progress = allocate(prog, [item("c1", "a"), replace(item("c2", "a"), credits=None)], NOW)
    assert counted(progress) == {"c1": "any"} and reasons(progress) == {"c2": "states no credits"}


def test_a_superseded_recognition_no_longer_stands_in_for_its_credential():
    prog = programme(elective("any", "mod-1", "ach-1", min_items=1), total=5)
    superseded = item("recognition:case-1.d1:mod-1", "mod-1", source="recognition", credential_ids=("c1",),
                      revoked="recognition case-1.d1 superseded by case-1.d2 (denied)")
    progress = allocate(prog, [superseded, item("c1", "ach-1")], NOW)
    assert counted(progress) == {"c1": "any"}
    assert reasons(progress)["recognition:case-1.d1:mod-1"].startswith("no longer valid: recognition case-1.d1")


def test_a_programme_is_complete_only_with_its_credits_too():
    prog = programme(elective("any", "a", min_items=1), total=10)
    progress = allocate(prog, [item("c1", "a", credits=9)], NOW)
    assert progress.missing == () and not progress.complete


def test_at_exactly_the_limit_the_search_is_still_exhaustive(monkeypatch):
    # Three credentials, each eligible for two requirements: 8 assignments, the limit here.
    monkeypatch.setattr(domain, "MAX_COMBINATIONS", 8)
    prog = programme(elective("r1", "a", min_items=1), elective("r2", "a", min_items=1), total=15)
    progress = allocate(prog, [item(f"c{n}", "a") for n in range(3)], NOW)
    assert counted(progress) == {"c0": "r1", "c1": "r1", "c2": "r2"}  # the greedy choice would be c1 -> r2


def test_the_explanation_names_what_counts_where_and_why_the_rest_does_not():
    prog = programme(elective("any", "a", min_items=1), total=5, min_grade="C")
    progress = allocate(prog, [item("c1", "a"), item("c2", "a", grade="D")], NOW)
    assert progress.explanation == ("c1 counts 5 ects credits toward any", "c2 does not count: grade D below the "
                                    "minimum C")


def test_progress_as_published_carries_every_part_of_the_allocation():
    prog = programme(required("core", "a"), elective("more", "b", min_items=1), total=10, min_grade="C")
    progress = allocate(prog, [item("c1", "a"), item("c2", "b", grade="D")], NOW)
    data = progress.data()
    assert (data.programme_id, data.institution_id, data.programme_version) == ("cert-ds", "uni-tartu", 1)
    assert (data.credits_counted, data.credits_required, data.complete) == (5, 10, False)
    assert (data.satisfied_requirements, data.missing_requirements) == (["core"], ["more"])
    assert [a.credential_id for a in data.allocations] == ["c1"]
    assert [e.credential_id for e in data.not_counted] == ["c2"]
    assert allocate(prog, [item("c1", "a"), item("c3", "b")], NOW).data().complete


def test_closeness_with_no_requirements_or_more_credits_than_needed_is_whole_and_otherwise_three_decimals():
    free = programme(total=10)
    assert closeness(allocate(free, [item("c1", "a", credits=15, part_of=frozenset({"cert-ds"}))], NOW)) == 1.0
    thirds = programme(required("a", "a"), required("b", "b"), required("c", "c"), total=15)
    assert closeness(allocate(thirds, [item("ca", "a")], NOW)) == 0.333


def test_a_what_if_item_replaces_a_held_one_with_the_same_id_and_adds_the_others():
    held = [item("c1", "a"), item("c2", "b")]
    asked = [item("c2", "b", credits=9), item("h1", "c")]
    assert hypothetical(held, asked) == [held[0], *asked]


def test_micro_credentials_are_known_by_type_or_by_size():
    assert is_micro("MicroCredential", None) and is_micro("Badge", "macro")
    assert is_micro("Certificate", "nano") and is_micro("Certificate", "micro")
    assert not is_micro("Certificate", None) and not is_micro("Certificate", "macro")


def test_a_programme_at_its_limits_is_accepted_and_duplicate_requirement_ids_are_refused():
    assert programme_problems(programme(required("core", "a"), elective("e", "b"), total=1)) == []
    assert programme_problems(programme(elective("e", "a", "b", min_credits=30, min_items=2), total=30)) == []
    assert programme_problems(programme(required("core", "mod-1"), elective("e", "ach-b"), max_micro_credential_share=0,
                                        modules=[module("mod-1")])) == []
    assert programme_problems(programme(elective("e", "a"), elective("e", "b"))) == [
        "requirements.requirement_id: requirement ids must be unique"]


def test_a_learner_who_starts_on_the_effective_date_follows_the_new_version():
    v1, v2 = programme(), programme(version=2, effective_from=date(2026, 9, 1))
    assert version_for([v1, v2], date(2026, 9, 1)) is v2


# ------------------------------------------------------------------------------------------------ properties

OPTIONS = ["a", "b", "c", "d", "mod-1"]
PROGRAMME = programme(required("core", "a"), elective("two-of", "a", "b", "c", min_items=2),
                      elective("credits", "c", "d", "mod-1", min_credits=8), total=30,
                      max_micro_credential_share=0.6, max_recognised_share=0.3)

# Ids from a small range, and recognitions citing credentials by those ids: a credential and a recognition granted on
# it are often offered together, so "counted twice" is something the allocator must actively prevent.
items_strategy = st.lists(
    st.builds(
        lambda n, opts, credits, micro, recognised, cited: item(
            f"{'recognition:' if recognised else ''}i{n}", *opts, credits=credits, micro_credential=micro,
            source="recognition" if recognised else "credential",
            credential_ids=tuple(f"i{c}" for c in sorted(cited)) if recognised else ()),
        st.integers(0, 9), st.sets(st.sampled_from(OPTIONS), min_size=1, max_size=3),
        st.sampled_from([1, 2.5, 4, 6]), st.booleans(), st.booleans(), st.sets(st.integers(0, 9), min_size=1,
                                                                              max_size=2)),
    max_size=8, unique_by=lambda i: i.item_id)


@settings(max_examples=80, deadline=None)
@given(items_strategy, st.randoms(use_true_random=False))
def test_no_credit_counts_twice_and_the_order_of_the_inputs_does_not_matter(items, rng):
    progress = allocate(PROGRAMME, items, NOW)
    ids = [a.credential_id for a in progress.allocations]
    assert len(ids) == len(set(ids))
    counted_ids = set(ids)
    assert not counted_ids & {e.credential_id for e in progress.not_counted}
    by_id = {i.item_id: i for i in items}
    direct = {a.credential_id for a in progress.allocations if a.source == "credential"}
    through = {c for a in progress.allocations if a.source == "recognition" for c in by_id[a.credential_id].basis_ids}
    assert not direct & through, "a credential counted directly and through a recognition"
    assert progress.credits_counted <= sum(i.credits.value for i in items) + 1e-9
    micro = sum(a.credits for a in progress.allocations if a.micro_credential)
    recognised = sum(a.credits for a in progress.allocations if a.source == "recognition")
    assert micro <= 0.6 * 30 + 1e-9 and recognised <= 0.3 * 30 + 1e-9
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert allocate(PROGRAMME, shuffled, NOW) == progress


UNCAPPED = PROGRAMME.model_copy(update={"max_micro_credential_share": None, "max_recognised_share": None})


@settings(max_examples=50, deadline=None)
@given(items_strategy, items_strategy)
def test_without_caps_another_credential_never_makes_progress_go_backwards(items, more):
    # Credentials only: a recognition granted on a credential replaces it (the credential then counts through the
    # recognition), which may count fewer credits by design.
    ids = {i.item_id for i in items}
    extra = [i for i in more if i.item_id not in ids and i.source == "credential"]
    before = allocate(UNCAPPED, items, NOW)
    after = allocate(UNCAPPED, items + extra, NOW)
    assert len(after.satisfied) >= len(before.satisfied)
    assert after.credits_counted + 1e-9 >= before.credits_counted


def recognised(item_id: str, module_id: str, grade: str | None) -> Item:
    return item(item_id, module_id, source="recognition", grade=grade, credential_ids=(f"{item_id}-credential",))


def test_a_recognised_module_meets_the_minimum_grade_by_its_grade_as_recognised():
    prog = programme(elective("any", "mod-ml", "mod-stats", "mod-viz", "mod-old", min_items=1), min_grade="C")
    progress = allocate(prog, [recognised("pass", "mod-ml", "pass"), recognised("four", "mod-stats", "B"),
                               recognised("low", "mod-viz", "D"), recognised("old", "mod-old", None)], NOW)
    assert set(counted(progress)) == {"pass", "four"}
    why = reasons(progress)
    assert why["low"] == "grade D below the minimum C"
    assert why["old"].startswith("the recognition decision states no grade as recognised")
    # A credential held without a grade is not a recognition decided before grades: a registrar decides.
    assert reasons(allocate(prog, [item("bare", "mod-ml", grade=None)], NOW))["bare"] == (
        "grade None cannot be compared with the minimum C; a registrar decides")


def test_pass_does_not_meet_the_minimum_when_the_programme_requires_recognised_credit_to_carry_a_grade():
    prog = programme(elective("any", "mod-ml", "mod-stats", min_items=1), min_grade="C",
                     recognised_grade_required=True)
    progress = allocate(prog, [recognised("pass", "mod-ml", "Pass"), recognised("graded", "mod-stats", "B")], NOW)
    assert set(counted(progress)) == {"graded"}
    assert reasons(progress)["pass"] == ("recognised without a grade (pass), and the programme requires recognised "
                                         "credit to carry a grade of at least C")
    # A credential held, not recognised, is not "recognised without a grade": its pass is compared as a grade.
    assert reasons(allocate(prog, [item("own", "mod-ml", grade="pass")], NOW))["own"].startswith("grade 'pass'")
