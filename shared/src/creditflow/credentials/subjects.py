"""Learner subject ids: VC 2.0 wants `credentialSubject.id` to be a URL, and the same learner must always be the same
subject, so creditflow uses `urn:creditflow:learner:<learner_id>` with the learner id percent-encoded."""

from __future__ import annotations

from urllib.parse import quote, unquote

PREFIX = "urn:creditflow:learner:"


def learner_subject_id(learner_id: str) -> str:
    return PREFIX + quote(learner_id, safe="-._~")


def learner_id_of(subject_id: str) -> str:
    """The learner id a subject id names; a bare learner id (credentials issued before the urn form) names itself."""
    return unquote(subject_id.removeprefix(PREFIX)) if subject_id.startswith(PREFIX) else subject_id
