"""The stacking allocator, without Kafka or MongoDB: no credit counts twice, rules and caps hold, and the same inputs
in any order give the same allocation."""

from dataclasses import replace
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from creditflow.events import CreditValue, Level, ProgrammePublishedData, Requirement
from creditflow.stacking.domain import (
    FREE,
    MAX_COMBINATIONS,
    Item,
    allocate,
    closeness,
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
    ids = {i.item_id for i in items}
    extra = [i for i in more if i.item_id not in ids]
    before = allocate(UNCAPPED, items, NOW)
    after = allocate(UNCAPPED, items + extra, NOW)
    assert len(after.satisfied) >= len(before.satisfied)
    assert after.credits_counted + 1e-9 >= before.credits_counted
