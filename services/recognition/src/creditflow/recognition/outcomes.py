"""Learning-outcome matching: which target outcomes the offered outcomes cover, with a score and how it was found.

Two outcomes that carry alignments to the same framework entry (an ESCO skill URI, say) match with score 1.0. Otherwise
the score is the Dice coefficient of their content words: lower-cased alphanumeric words, stop words removed, and a
light suffix stemming ('analysing' and 'analyse' meet at 'analys'). It is deterministic, explainable in one line,
and needs no model; its limit (synonyms do not match) is why a low-confidence match goes to a registrar instead of
being refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from creditflow.events import LearningOutcome

MATCH_THRESHOLD = 0.5  # an outcome counts as covered from this score on

_STOP = frozenset(
    "a an and are as at be by can for from in into is it its of on or that the their this to using use with "
    "within without will able learner learners student students".split()
)
_SUFFIXES = ("ations", "ation", "ising", "izing", "ings", "ing", "ises", "izes", "ise", "ize", "ies", "es", "ed",
             "ly", "s", "e")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP)


def text_similarity(a: str, b: str) -> float:
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return 0.0
    return round(2 * len(wa & wb) / (len(wa) + len(wb)), 3)


@dataclass(frozen=True)
class OutcomeMatch:
    target: str
    score: float
    method: str  # "alignment <url>" or "text similarity"
    offered: str | None = None
    credential_id: str | None = None

    @property
    def covered(self) -> bool:
        return self.score >= MATCH_THRESHOLD

    def explain(self) -> str:
        if self.offered is None:
            return f"'{self.target}': not covered (no offered outcome)"
        state = "covered" if self.covered else "not covered"
        return (f"'{self.target}': {state} by '{self.offered}' of {self.credential_id} "
                f"({self.method}, score {self.score:.2f})")


def _score(target: LearningOutcome, offered: LearningOutcome) -> tuple[float, str]:
    shared = {a.target_url for a in target.alignments} & {a.target_url for a in offered.alignments}
    if shared:
        return 1.0, f"alignment {sorted(shared)[0]}"
    return text_similarity(target.statement, offered.statement), "text similarity"


def best_matches(
    targets: list[LearningOutcome], offered: list[tuple[str, LearningOutcome]]
) -> list[OutcomeMatch]:
    """For each target outcome, the best offered outcome (credential_id, outcome); ties go to the first offered."""
    matches = []
    for target in targets:
        best = OutcomeMatch(target.statement, 0.0, "none")
        for credential_id, outcome in offered:
            score, method = _score(target, outcome)
            if score > best.score:
                best = OutcomeMatch(target.statement, score, method, outcome.statement, credential_id)
        matches.append(best)
    return matches


def coverage(matches: list[OutcomeMatch]) -> float:
    return round(sum(m.covered for m in matches) / len(matches), 3) if matches else 1.0
