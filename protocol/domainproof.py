"""Domain proof: an organisation whose ``org.profile`` names ``domain`` proves it by serving its
did:key, and nothing else, at ``https://DOMAIN/.well-known/rakuichi-did``.

Pure: the node fetches (bounded, no redirects) and hands the body here to decide.
"""

from __future__ import annotations

import re

WELL_KNOWN_PATH = "/.well-known/rakuichi-did"
MAX_PROOF_BYTES = 4096
MAX_DOMAIN_CHARS = 253

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalise_domain(domain: str) -> str | None:
    """The domain in lower case without a final dot, or None when it is not a DNS host name
    (so never a URL: no scheme, port, path, user or IP-literal brackets)."""
    name = domain.strip().lower().removesuffix(".")
    if not name or len(name) > MAX_DOMAIN_CHARS or "." not in name:
        return None
    if all(_LABEL.fullmatch(label) for label in name.split(".")):
        return name
    return None


def proof_url(domain: str, base: str = "") -> str | None:
    """Where the proof of ``domain`` is served: ``https://DOMAIN/.well-known/rakuichi-did``;
    ``base`` (test/dev only) replaces ``https://DOMAIN``. None for a domain that is no host."""
    name = normalise_domain(domain)
    if name is None:
        return None
    return (base.rstrip("/") if base else f"https://{name}") + WELL_KNOWN_PATH


def proof_holds(body: bytes, did: str) -> bool:
    """Whether a fetched proof body is exactly ``did`` (surrounding whitespace trimmed)."""
    if not did or len(body) > MAX_PROOF_BYTES:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.strip() == did
