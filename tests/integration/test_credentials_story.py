"""W3C credentials end to end with two node processes: organisation A attests a member; the
member, asking node B (which issues nothing for A), fetches each credential from A's own node
(found through A's profile), lists them, exports them, and checks each one offline; a changed
credential is refused.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from crypto import load_signing_key
from node.config import load_config, load_keys
from tests.support import alliance, alliance_end, attestation, now_ms, run_cli
from tests.support.federation import Api, federation_home, set_peers, start_processes, wait_for

pytestmark = pytest.mark.slow


async def cli(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = await asyncio.to_thread(run_cli, *args)
    if ok:
        assert done.returncode == 0, f"rakuichi {' '.join(map(str, args))}\n{done.stderr}"
    return done


async def test_member_fetches_lists_exports_and_verifies_credentials(
    tmp_path: Path, api: Api
) -> None:
    homes = [federation_home(tmp_path, name) for name in ("aurora", "birch")]
    a, b = (load_config(home).public_url for home in homes)
    set_peers(homes[0], [b])
    set_peers(homes[1], [a])
    await start_processes(homes)
    org = load_keys(homes[0], None).org
    wallet = tmp_path / "aiko.key"
    await cli("member", "init", "--wallet", wallet, "--no-passphrase")
    member = load_signing_key(wallet, None)

    t0 = now_ms() - 60_000
    agreed = alliance(org, member, t0)
    skill = attestation(org, member, t0 + 2, "skill", agreed, skill="sql", level=4)
    badge = attestation(org, member, t0 + 3, "tour.completed", agreed)
    loose = attestation(org, member, t0 + 4, "rating", score=4)  # ungrounded: no credential
    records = [agreed, alliance_end(org, agreed, t0 + 1), skill, badge, loose]
    await api.post(a, records)
    ids = [r.id.hex() for r in records]
    await wait_for(lambda: api.all_hold([b], ids), 20.0, "records reach B")

    fetched = await cli("member", "credentials", "fetch", "--wallet", wallet, "--node", b)
    assert "fetched 2 credential(s)" in fetched.stdout, fetched.stdout
    assert fetched.stdout.count(f"from {a}") == 2, fetched.stdout
    keep = tmp_path / "aiko.key.credentials"
    assert sorted(p.stem for p in keep.glob("*.json")) == sorted([skill.id.hex(), badge.id.hex()])

    listed = (await cli("member", "credentials", "list", "--wallet", wallet)).stdout
    assert "valid         skill: sql, level 4" in listed, listed
    assert "tour.completed (Open Badge)" in listed, listed
    assert "2 credential(s)" in listed

    out = tmp_path / "vc"
    exported = await cli("member", "export", "--wallet", wallet, "--vc", out)
    assert "exported 2 W3C credential(s)" in exported.stdout
    vc_file = out / f"{skill.id.hex()}.json"
    checked = (await cli("verify-credential", vc_file)).stdout
    assert f"signed by the issuer {org.public_key.did}" in checked
    assert f"record   {skill.id.hex()}" in checked and "says the same" in checked
    assert checked.rstrip().endswith("valid")

    record_file = tmp_path / "skill.bin"
    record_file.write_bytes(badge.wire)
    wrong = await cli("verify-credential", vc_file, "--record", record_file, ok=False)
    assert wrong.returncode == 1 and "not the record's" in wrong.stderr, wrong.stderr
    record_file.write_bytes(skill.wire)
    assert (await cli("verify-credential", vc_file, "--record", record_file)).returncode == 0

    document = json.loads(vc_file.read_text())
    document["credentialSubject"]["level"] = 5
    vc_file.write_text(json.dumps(document))
    refused = await cli("verify-credential", vc_file, ok=False)
    assert refused.returncode == 1
    assert "does not check: proof: the proof's signature does not verify" in refused.stderr
