"""Co-signing an alliance draft in the browser: the result is accepted and byte for byte what
`rakuichi member sign` produces for the same draft and wallet; the key is never sent."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from crypto import load_signing_key, save_signing_key, sha256
from crypto.keys import SigningKey
from node.config import ORG_KEY_FILE
from node.tomlfile import dumps, read_toml, write_atomically
from protocol import kinds
from protocol.builder import Draft
from tests.support.browser import Browser
from tests.support.federation import federation_home
from tests.support.nodes import NodeProcess, run_cli
from tests.web.conftest import Pair, wait_held

pytestmark = pytest.mark.slow
DAY_MS = 86_400_000
TERMS = b"Terms of the alliance: eight weeks, fixed fee, shared IP.\n"


def post_draft(base: str, wire: bytes) -> dict[str, object]:
    request = urllib.request.Request(
        base + "/v1/drafts", data=wire, headers={"Content-Type": "application/msgpack"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def record_wire(base: str, record_id: bytes) -> bytes:
    request = urllib.request.Request(
        f"{base}/v1/records/{record_id.hex()}", headers={"Accept": "application/msgpack"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def twin_of_a(root: Path, pair: Pair) -> NodeProcess:
    """A node process of its own holding A's organisation key (and no peers): the CLI signs
    the same draft there, so that both results can be compared without one hiding the other."""
    home = federation_home(root, "twin")
    shutil.copyfile(pair.homes[0] / ORG_KEY_FILE, home / ORG_KEY_FILE)
    config = read_toml(home / "config.toml")
    config["identity"]["org"] = pair.a_org.public_key.did
    write_atomically(home / "config.toml", dumps(config, "twin of A"))
    proc = NodeProcess(home).start()
    proc.wait_ready(30)
    return proc


def test_draft_cosigned_in_the_browser_equals_the_cli_and_is_accepted(
    pair: Pair, browser: Browser, tmp_path: Path
) -> None:
    wallet = tmp_path / "member.key"
    made = run_cli("member", "init", "--wallet", wallet, "--no-passphrase")
    assert made.returncode == 0, made.stderr
    member = load_signing_key(wallet)
    encrypted = tmp_path / "encrypted.key"
    save_signing_key(encrypted, member, "a passphrase")
    stranger = tmp_path / "stranger.key"
    save_signing_key(stranger, SigningKey.generate())
    terms = tmp_path / "terms.txt"
    terms.write_bytes(TERMS)
    other_terms = tmp_path / "other-terms.txt"
    other_terms.write_bytes(TERMS + b"(amended)\n")

    now = int(time.time() * 1000)
    body = {
        "member": member.public_key.raw,
        "tour": "transformational",
        "mission": "Relaunch the shop <script>window.__pwned = 1</script>.",
        "starts": now + DAY_MS,
        "ends": now + 60 * DAY_MS,
        "org_commits": ["mentoring", "a conference budget"],
        "member_commits": ["weekly demos"],
        "terms": sha256(TERMS),
        "alumni": True,
    }
    draft = Draft.new(kinds.ALLIANCE, pair.a_org.public_key.raw, now, body).sign(pair.a_org)
    post_draft(pair.a.url, draft.wire)

    twin = twin_of_a(tmp_path, pair)
    try:
        post_draft(twin.url, draft.wire)
        signed = run_cli(
            "member", "sign", f"{twin.url}/v1/drafts/{draft.id.hex()}",
            "--wallet", wallet, "--yes",
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        cli_wire = record_wire(twin.url, draft.id)
    finally:
        twin.kill()

    browser.get(f"{pair.a.url}/drafts/{draft.id.hex()}")
    page = browser.text()
    assert "Relaunch the shop <script>" in page and "weekly demos" in page
    assert browser.driver.execute_script("return window.__pwned") is None

    browser.find("#terms-file").send_keys(str(terms))
    browser.wait_for(lambda: browser.find("#terms-result").text, "the terms check")
    assert "matches" in browser.find("#terms-result").text
    browser.find("#terms-file").send_keys(str(other_terms))
    browser.wait_for(lambda: "NOT" in browser.find("#terms-result").text, "a terms mismatch")

    browser.find("#wallet").send_keys(str(encrypted))
    browser.find("#sign").click()
    message = browser.wait_for(
        lambda: "encrypted" in (t := browser.find("#cosign-result").text) and t, "a refusal"
    )
    assert f"rakuichi member sign {pair.a.url}/v1/drafts/{draft.id.hex()}" in message

    browser.find("#wallet").send_keys(str(stranger))
    browser.find("#sign").click()
    browser.wait_for(lambda: "not the member" in browser.find("#cosign-result").text, "refusal")

    browser.find("#wallet").send_keys(str(wallet))
    browser.find("#sign").click()
    done = browser.wait_for(
        lambda: "accepted" in (t := browser.find("#cosign-result").text) and t, "co-signing"
    )
    assert draft.id.hex() in done

    assert record_wire(pair.a.url, draft.id) == cli_wire  # byte for byte the CLI's record
    wait_held(pair.b.url, [draft.id])  # accepted, and spreading like any record
    assert record_wire(pair.b.url, draft.id) == cli_wire

    secret = wallet.read_text()
    posts = [r for r in browser.requests() if r["method"] != "GET"]
    assert [p["url"] for p in posts] == [f"{pair.a.url}/v1/records"]
    for request in browser.requests():
        assert "PRIVATE KEY" not in json.dumps(request) and secret not in json.dumps(request)

    browser.get(f"{pair.a.url}/drafts/{draft.id.hex()}")
    assert "this alliance is in force" in browser.text("#signed")
