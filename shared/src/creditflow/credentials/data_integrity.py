"""W3C Data Integrity proofs with the `eddsa-rdfc-2022` cryptosuite (Data Integrity EdDSA Cryptosuites v1.0, §3.3).

The document and the proof options are each canonicalised with RDFC-1.0 (pyld's URDNA2015, the same algorithm under
its earlier name), hashed with SHA-256, and the Ed25519 signature covers proof-options hash || document hash.

Contexts come from a static document loader over the contexts bundled in this package: canonicalisation never
touches the network, and an unknown context is an error, not a fetch. pyld keeps resolved contexts in its own
process-wide LRU cache, so each context is parsed once per process; `_RememberingProcessor` keeps what pyld would
otherwise redo for every node, the processing of type- and property-scoped contexts and IRI expansion.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from frozendict import frozendict
from pyld import jsonld
from pyld.jsonld import _is_absolute_iri, _is_keyword, _is_value

from . import contexts, keys

CRYPTOSUITE = "eddsa-rdfc-2022"
PROOF_TYPE = "DataIntegrityProof"

DocumentLoader = Callable[[str, dict], dict[str, Any]]


class UnknownContext(ValueError):
    pass


def static_loader(extra: Mapping[str, dict[str, Any]] | None = None) -> DocumentLoader:
    """A pyld document loader that serves the bundled contexts (and `extra`, URL to document) and nothing else."""
    documents = dict(extra or {})

    def load(url: str, options: dict | None = None) -> dict[str, Any]:
        if url in documents:
            document = documents[url]
        elif url in contexts.FILES:
            document = contexts.document(url)
        else:
            raise UnknownContext(f"context {url} is not bundled with creditflow; documents are never fetched")
        # pyld must never alter the cached original. `tag: static` lets pyld keep the resolved context in its
        # process-wide cache (it caches nothing otherwise): contexts are immutable, so each is processed once.
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(document), "tag": "static"}

    return load


LOADER = static_loader()


class CanonicalisationError(ValueError):
    pass


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or getattr(exc, "cause", None) is not None:
        exc = exc.__cause__ or exc.cause
    return exc


class _RememberingProcessor(jsonld.JsonLdProcessor):
    """pyld's processor, except that it remembers two answers instead of recomputing them for every node of every
    document: the active context a scoped context yields, and the IRI a term or compact IRI expands to.

    pyld processes a type-scoped context anew at every node of that type, in every document: its own cache of
    processed contexts is keyed by the `_uuid` of the active context, and the context it clones for a type-scoped
    context (which must not propagate) gets a fresh `_uuid` each time; resolving an inline context also
    JSON-canonicalises it for a cache key. For an award that was 70 % of canonicalisation, and IRI expansion
    another 10 % of what is left (make bench-credentials).

    The output is pyld's, byte for byte (shared/tests/test_canonical_equivalence.py). An entry answers only the
    call that made it: for a context, the same active context object, the same local context object, the same
    flags, base, processing mode and document loader; for an IRI, the same active context object, value, base and
    vocab flag. It holds those objects, so no other object can take their ids while it exists, and they are
    immutable from then on. Active contexts are frozen by pyld, which reuses them across documents itself (its
    process-wide cache of resolved contexts). Local contexts are inline objects: either a scoped context inside a
    resolved context that pyld caches for the process, or part of the deep copy pyld makes of each input document,
    which no caller can reach. What this cannot vouch for goes to pyld untouched: an active context pyld has not
    frozen (a context being built: every call pyld makes while it builds one), a local context that is not a plain
    object (a URL, a list, null) or that uses `@import` (pyld merges it into the imported context's cached
    document), an IRI expansion that may define terms (`local_ctx` given) or of something not a string. An error is
    never remembered.
    """

    # Entries: a context one holds an active context (tens of KB); every shape creditflow signs needs 37 of them,
    # an award about 100 IRIs.
    CONTEXTS, IRIS = 256, 4096

    def __init__(self) -> None:
        super().__init__()
        self._memo: dict[tuple, tuple] = {}
        self._iris: dict[tuple, tuple] = {}

    @staticmethod
    def _remember(memo: dict[tuple, tuple], limit: int, key: tuple, held: tuple, compute: Callable[[], Any]) -> Any:
        entry = memo.get(key)
        if entry is None:
            answer = compute()
            if len(memo) >= limit:
                memo.clear()  # dropping entries never changes an answer, only costs the next call
            entry = memo[key] = (held, answer)
        return entry[1]

    def _process_context(self, active_ctx, local_ctx, options, override_protected=False, propagate=True,
                         validate_scoped=True, cycles=None):
        def compute():
            return super(_RememberingProcessor, self)._process_context(
                active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles)

        if type(active_ctx) is not frozendict or type(local_ctx) is not dict or "@import" in local_ctx:
            return compute()
        loader = options.get("documentLoader")
        key = (id(active_ctx), id(local_ctx), override_protected, propagate, validate_scoped, options.get("base"),
               options.get("processingMode"), id(loader))
        return self._remember(self._memo, self.CONTEXTS, key, (active_ctx, local_ctx, loader), compute)

    def _expand_iri(self, active_ctx, value, base=None, vocab=False, local_ctx=None, defined=None):
        def compute():
            return super(_RememberingProcessor, self)._expand_iri(active_ctx, value, base, vocab, local_ctx, defined)

        if local_ctx is not None or defined is not None or type(active_ctx) is not frozendict or type(value) is not str:
            return compute()
        return self._remember(self._iris, self.IRIS, (id(active_ctx), value, base, vocab), (active_ctx,), compute)


class SafeModeError(CanonicalisationError):
    """The document holds something JSON-LD safe mode refuses: canonicalisation would drop it or change it, so the
    proof would not cover what the document says."""


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


class _SafeModeProcessor(_RememberingProcessor):
    """pyld's processor (remembering as above) in JSON-LD safe mode, as the VC Data Integrity spec requires of
    RDFC-based cryptosuites: every condition jsonld.js's safe mode refuses (lib/events.js `safeEventHandler`) and
    pyld 3.3 passes silently, dropping or rewriting part of the document, is a SafeModeError instead. The hooks sit
    where pyld drops or rewrites; what passes them is canonicalised by pyld unchanged, so a document is either
    canonicalised exactly as pyld does or refused (shared/tests/test_canonical_equivalence.py).

    jsonld.js codes and where pyld meets them: `invalid property` (a key that expands to no absolute IRI or keyword)
    in pyld's own `on_property_dropped` hook; `blank node predicate` (a key that expands to a blank node, which RDF
    conversion drops) in what `_expand` returns; `relative @id/@type/@vocab reference` and
    `relative object reference` (pyld resolves them against its default base `http://example.org/base/`) in
    `_expand_iri` with a base; `empty object`, `free-floating scalar`, `null @value value` and `object with only
    @id/@value/@list/@language` (what `_expand` turns into nothing); `reserved term`, `reserved @id value` and
    `reserved @reverse value` (a context entry pyld ignores) in `_process_context`; `invalid @language value` and
    `rdfDirection not set` (a language tag that is not BCP 47, a base direction RDF conversion drops) in
    `_object_to_rdf`. The RDF conversion's relative subject, predicate and graph references cannot remain: every
    IRI that reaches it passed `_expand_iri` or the dropped-property hook.
    """

    def __init__(self) -> None:
        super().__init__()
        self.on_property_dropped = _dropped
        self._checked: dict[tuple, tuple] = {}

    def _expand_object(self, active_ctx, active_property, expanded_active_property, element, expanded_parent,
                       options, *args, **kwargs):
        try:
            super()._expand_object(active_ctx, active_property, expanded_active_property, element, expanded_parent,
                                   options, *args, **kwargs)
        except _Dropped as dropped:
            # pyld tells what a key expanded to, not the key: the first key of this object that expands so is it.
            key = next(k for k in sorted(element) if k != "@context"
                       and self._expand_iri(active_ctx, k, vocab=True) == dropped.expanded)
            raise SafeModeError(f"safe mode: property {key!r} is not defined by any context (it expands to "
                                f"{_shown(dropped.expanded)}, not an absolute IRI), so the proof would not cover "
                                "it") from None

    def _expand(self, active_ctx, active_property, element, options, *args, **kwargs):
        expanded = super()._expand(active_ctx, active_property, element, options, *args, **kwargs)
        if expanded is None and element is not None:
            raise SafeModeError(f"safe mode: {_shown(element)} expands to nothing (an empty object, a value no "
                                "property holds, a null @value, or an object with only @id, @value, @list or "
                                "@language where no property holds it), so the proof would not cover it")
        if isinstance(expanded, dict):
            for predicate in expanded:
                if predicate.startswith("_:"):
                    raise SafeModeError(f"safe mode: a property expands to the blank node {predicate!r}, which RDF "
                                        "cannot have as a predicate, so the proof would not cover it")
        return expanded

    def _expand_iri(self, active_ctx, value, base=None, vocab=False, local_ctx=None, defined=None):
        if base is None or not isinstance(value, str):
            return super()._expand_iri(active_ctx, value, base, vocab, local_ctx, defined)
        # pyld resolves against the base only what expands to no absolute IRI without it, which safe mode refuses:
        # what passes is the same with the base or without.
        expanded = super()._expand_iri(active_ctx, value, None, vocab, local_ctx, defined)
        if not isinstance(expanded, str) or not (_is_absolute_iri(expanded) or _is_keyword(expanded)):
            raise SafeModeError(f"safe mode: {value!r} is a relative IRI reference, which pyld would resolve "
                                "against a base the document does not have; an id, a type and an IRI value "
                                "must be absolute IRIs or blank node identifiers")
        return expanded

    def _process_context(self, active_ctx, local_ctx, options, *args, **kwargs):
        for context in local_ctx if isinstance(local_ctx, list) else [local_ctx]:
            if isinstance(context, dict):
                # pyld hands the same scoped-context objects of its cached contexts at every node of every document
                # (the assumption of the memo above): a context that passed once passes again; a refusal is never
                # remembered.
                self._remember(self._checked, self.CONTEXTS, (id(context),), (context,),
                               lambda context=context: _check_local_context(context))
        return super()._process_context(active_ctx, local_ctx, options, *args, **kwargs)

    def _object_to_rdf(self, item, issuer, triples, options):
        if _is_value(item):
            if "@direction" in item:
                raise SafeModeError(f"safe mode: {_shown(item)} has a base direction, which RDF conversion without "
                                    "an rdfDirection drops, so the proof would not cover it")
            language = item.get("@language")
            if isinstance(language, str) and not re.match(_BCP47, language):
                raise SafeModeError(f"safe mode: language {language!r} of {_shown(item)} is not a BCP 47 tag")
        return super()._object_to_rdf(item, issuer, triples, options)


class _Dropped(Exception):
    def __init__(self, expanded: str | None) -> None:
        super().__init__(expanded)
        self.expanded = expanded


def _dropped(expanded: str | None) -> None:
    """pyld's handler for a key it drops because it expands to no absolute IRI or keyword (jsonld.js: `invalid
    property`)."""
    raise _Dropped(expanded)


_BCP47 = r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$"  # the check of jsonld.js and pyld (REGEX_BCP47)
_RESERVED = re.compile(r"^@[a-zA-Z]+$")  # what JSON-LD 1.1 reserves for future keywords


def _check_local_context(context: dict[str, Any]) -> None:
    """A context entry pyld would ignore (a term or IRI that looks like a keyword but is none), or an @vocab that is
    not absolute: checked on the context itself, since pyld may reuse an active context it processed before."""
    for term, definition in context.items():
        if _RESERVED.match(term) and not _is_keyword(term):
            raise SafeModeError(f"safe mode: context term {term!r} looks like a keyword and is ignored, so what "
                                "it would define is not covered by the proof")
        for name in ("@id", "@reverse"):
            iri = definition.get(name) if isinstance(definition, dict) else None
            if isinstance(iri, str) and _RESERVED.match(iri) and not _is_keyword(iri):
                raise SafeModeError(f"safe mode: context term {term!r} has {name} {iri!r}, which looks like a "
                                    "keyword and is ignored")
    vocab = context.get("@vocab")
    if isinstance(vocab, str) and not _is_absolute_iri(vocab):
        raise SafeModeError(f"safe mode: @vocab {vocab!r} is a relative IRI reference, which pyld would resolve "
                            "against a base the document does not have")


_PROCESSOR = _SafeModeProcessor()


def canonical(document: dict[str, Any], loader: DocumentLoader = LOADER) -> str:
    """The RDFC-1.0 canonical N-Quads of a JSON-LD document, exactly as `jsonld.normalize` gives them, in JSON-LD
    safe mode: SafeModeError names what pyld would drop or rewrite and the rule, CanonicalisationError what else
    stopped it (e.g. a context creditflow does not bundle)."""
    try:
        return _PROCESSOR.normalize(
            document, {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader}
        )
    except jsonld.JsonLdError as exc:
        cause = _root_cause(exc)
        if isinstance(cause, SafeModeError):
            raise cause from exc
        raise CanonicalisationError(str(cause.args[0] if cause.args else cause)) from exc


def hash_data(unsecured: dict[str, Any], proof_options: dict[str, Any], loader: DocumentLoader = LOADER) -> bytes:
    proof_hash = hashlib.sha256(canonical(proof_options, loader).encode()).digest()
    document_hash = hashlib.sha256(canonical(unsecured, loader).encode()).digest()
    return proof_hash + document_hash


def _iso(moment: datetime) -> str:
    # Full precision: truncating could put the signing time before the valid_from of a key made the same second.
    return moment.isoformat().replace("+00:00", "Z")


def proof_options(document: dict[str, Any], verification_method: str, created: datetime) -> dict[str, Any]:
    return {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": _iso(created),
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
        "@context": document["@context"],
    }


def sign(
    unsecured: dict[str, Any],
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    loader: DocumentLoader = LOADER,
    *,
    proof_set: bool = False,
) -> dict[str, Any]:
    """The document with an embedded `eddsa-rdfc-2022` proof; with `proof_set`, `proof` is a list of that one proof,
    as the Open Badges 3.0 and CLR 2.0 JSON Schemas require (the same RDF: `proof` is a graph container)."""
    options = proof_options(unsecured, verification_method, created)
    signature = private_key.sign(hash_data(unsecured, options, loader))
    proof = {**{k: v for k, v in options.items() if k != "@context"}, "proofValue": "z" + keys.b58encode(signature)}
    return {**unsecured, "proof": [proof] if proof_set else proof}


class ProofError(ValueError):
    pass


def split(secured: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(unsecured document, proof) of a document with one embedded eddsa-rdfc-2022 proof; raises ProofError."""
    proof = secured.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    if not isinstance(proof, dict):
        raise ProofError("proof: one embedded Data Integrity proof is required (an object, or a list of one)")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(f"proof: type {PROOF_TYPE} with cryptosuite {CRYPTOSUITE} is required, "
                         f"not {proof.get('type')!r}/{proof.get('cryptosuite')!r}")
    if proof.get("proofPurpose") != "assertionMethod":
        raise ProofError(f"proof.proofPurpose: assertionMethod is required, not {proof.get('proofPurpose')!r}")
    for name in ("verificationMethod", "created", "proofValue"):
        if not isinstance(proof.get(name), str):
            raise ProofError(f"proof.{name}: required")
    return {k: v for k, v in secured.items() if k != "proof"}, proof


def signature_valid(secured: dict[str, Any], public_key: Ed25519PublicKey, loader: DocumentLoader = LOADER) -> bool:
    """Whether the embedded proof verifies with `public_key`; raises ProofError when the proof is malformed and
    CanonicalisationError when the document cannot be canonicalised."""
    unsecured, proof = split(secured)
    value = proof["proofValue"]
    if not value.startswith("z"):
        raise ProofError("proof.proofValue: must be multibase base58-btc ('z...')")
    try:
        signature = keys.b58decode(value[1:])
    except ValueError as exc:
        raise ProofError(f"proof.proofValue: {exc}") from exc
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    options["@context"] = secured.get("@context")
    try:
        public_key.verify(signature, hash_data(unsecured, options, loader))
        return True
    except InvalidSignature:
        return False


def multikey_document(verification_method: str, controller: str, public_key_multibase: str) -> dict[str, Any]:
    """The Multikey document a proof's `verificationMethod` URL dereferences to; `controller` is the issuer Profile,
    which lists the method in its assertionMethod."""
    return {"@context": contexts.MULTIKEY_V1, "id": verification_method, "type": "Multikey",
            "controller": controller, "publicKeyMultibase": public_key_multibase}
