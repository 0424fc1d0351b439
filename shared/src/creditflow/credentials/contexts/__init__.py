"""The JSON-LD contexts creditflow's credentials use, bundled so no processor ever fetches one over the network.

Each file is the published document of the URL it stands for (sources in README.md beside this file), except
creditflow-v1.jsonld, which is creditflow's own and is served byte-identical by the issuer at /contexts/creditflow/v1.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

CREDITFLOW_V1 = "https://w3id.org/creditflow/v1"
VC2 = "https://www.w3.org/ns/credentials/v2"
OB3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR2 = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
DATA_INTEGRITY_V1 = "https://w3id.org/security/data-integrity/v1"

FILES = {
    VC2: "credentials-v2.jsonld",
    OB3: "ob-v3p0-3.0.3.json",
    CLR2: "clr-v2p0-2.0.1.json",
    MULTIKEY_V1: "multikey-v1.jsonld",
    DATA_INTEGRITY_V1: "data-integrity-v1.jsonld",
    CREDITFLOW_V1: "creditflow-v1.jsonld",
}


@cache
def raw(url: str) -> bytes:
    """The bundled bytes of the context at `url`; KeyError when creditflow does not bundle it."""
    return resources.files(__package__).joinpath(FILES[url]).read_bytes()


@cache
def document(url: str) -> dict[str, Any]:
    return json.loads(raw(url))
