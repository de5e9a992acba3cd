"""The pure domain-proof check: the body must be the organisation's did:key, nothing else."""

from __future__ import annotations

from protocol.domainproof import MAX_PROOF_BYTES, normalise_domain, proof_holds, proof_url

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def test_exact_did_with_surrounding_whitespace_holds() -> None:
    assert proof_holds(DID.encode(), DID)
    assert proof_holds(f"  {DID}\r\n".encode(), DID)


def test_wrong_did_does_not_hold() -> None:
    other = DID[:-1] + ("L" if DID[-1] != "L" else "M")
    assert not proof_holds(other.encode(), DID)


def test_extra_content_does_not_hold() -> None:
    assert not proof_holds(f"{DID}\nhello".encode(), DID)
    assert not proof_holds(f"did={DID}".encode(), DID)
    assert not proof_holds(f"{DID} {DID}".encode(), DID)


def test_empty_or_bad_body_does_not_hold() -> None:
    assert not proof_holds(b"", DID)
    assert not proof_holds(b"   \n", DID)
    assert not proof_holds(b"\xff\xfe", DID)
    assert not proof_holds(DID.encode() + b" " * MAX_PROOF_BYTES, DID)
    assert not proof_holds(b"", "")


def test_domain_must_be_a_host_name() -> None:
    assert normalise_domain("Example.ORG.") == "example.org"
    for bad in (
        "",
        "localhost",
        "a/b.org",
        "x.org:8080",
        "user@x.org",
        "[::1]",
        "-a.org",
        "a..org",
    ):
        assert normalise_domain(bad) is None, bad
    assert proof_url("Example.org") == "https://example.org/.well-known/rakuichi-did"
    assert proof_url("example.org", "http://127.0.0.1:5/") == (
        "http://127.0.0.1:5/.well-known/rakuichi-did"
    )
    assert proof_url("evil.org/x?") is None
