"""``rakuichi demo``: three real nodes on 127.0.0.1, linked A-B-C, and one alliance story.

Each node runs in its own process from a temporary home. A publishes its profile and an
opportunity, a member key is made, A and the member sign an alliance, A attests the member's
work; the demo then shows every record arriving at C (not a peer of A) and checks it there.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crypto import SigningKey, save_signing_key, sha256
from node.cli.common import CliError, client, run_async, say
from node.config import load_keys
from node.federation.peersfile import SeedPeer, write_peers
from node.home import init_home
from node.tomlfile import dumps, read_toml, write_atomically
from node.transport import TransportError
from protocol import Draft, Record, kinds, sign_record, validate_record

DAY_MS = 86_400_000
NAMES = ("Aurora Labs", "Birchwood Co-op", "Cobalt Works")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run a three-node federation on 127.0.0.1 and show it work")
    p.add_argument("--keep", action="store_true", help="keep the temporary homes")
    p.add_argument(
        "--serve",
        action="store_true",
        help="keep the three nodes running (until Ctrl-C) and print each one's web board",
    )
    p.set_defaults(func=cmd_demo)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_homes(root: Path) -> list[tuple[Path, str]]:
    homes = []
    for name in NAMES:
        port = _free_port()
        home = root / name.split()[0].lower()
        init_home(home, name, f"127.0.0.1:{port}")
        config = read_toml(home / "config.toml")
        config["federation"].update(  # the demo's nodes are all on 127.0.0.1
            push_interval=0.2, anti_entropy_interval=2.0, learn_peers=False, learn_private=True
        )
        write_atomically(home / "config.toml", dumps(config, "demo node"))
        homes.append((home, f"http://127.0.0.1:{port}"))
    for i, (home, _) in enumerate(homes):  # a line: A - B - C
        links = [homes[j][1] for j in (i - 1, i + 1) if 0 <= j < len(homes)]
        write_peers(home / "peers.toml", [SeedPeer(url) for url in links])
    return homes


async def _wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> dict:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliError(f"node at {url} exited with {process.returncode}")
        try:
            async with client(url, total=2) as node:
                return await node.identity()
        except TransportError:
            await asyncio.sleep(0.1)
    raise CliError(f"node at {url} did not start in time")


def _story(org: SigningKey, member: SigningKey, now: int) -> list[tuple[str, Record]]:
    opportunity = sign_record(
        org,
        kinds.OPPORTUNITY,
        now,
        {
            "slug": "data-platform-lead",
            "title": "Data platform lead",
            "tour": "transformational",
            "status": "open",
            "skills": ["python", "sqlite", "distributed systems"],
            "weeks": 26,
            "summary": "Lead the move of our data platform to a federated design.",
            "remote": True,
        },
    )
    alliance = Draft.new(
        kinds.ALLIANCE,
        org.public_key.raw,
        now + 1,
        {
            "member": member.public_key.raw,
            "tour": "transformational",
            "alumni": True,
            "mission": "Move the data platform to a federated design within two quarters.",
            "starts": now - 30 * DAY_MS,
            "opportunity": opportunity.id,
            "org_commits": ["mentoring by the CTO", "conference budget"],
            "member_commits": ["a documented migration plan", "weekly demos"],
        },
    )
    alliance_record = alliance.sign(org).sign(member).finish()
    attestation = sign_record(
        org,
        kinds.ATTESTATION,
        now + 2,
        {
            "subject": member.public_key.raw,
            "claim": "skill",
            "skill": "distributed systems",
            "level": 5,
            "alliance": alliance_record.id,
            "text": "Designed and shipped our replication layer.",
        },
    )
    return [
        ("opportunity", opportunity),
        ("alliance", alliance_record),
        ("attestation", attestation),
    ]


async def _run(
    homes: list[tuple[Path, str]], processes: list[subprocess.Popen[bytes]], started: float
) -> None:
    deadline = time.monotonic() + 20
    identities = [
        await _wait_ready(url, p, deadline) for (_, url), p in zip(homes, processes, strict=True)
    ]
    say("three nodes, each in its own process, linked in a line A - B - C:")
    for label, ident in zip("ABC", identities, strict=True):
        say(f"  {label}  {ident['name']:<16} {ident['url']}  org {ident['org']}")
    org = load_keys(homes[0][0]).org
    member = SigningKey.generate()
    say(f"a member makes a key of their own: {member.public_key.did}")
    story = _story(org, member, int(time.time() * 1000))
    async with client(homes[0][1]) as a:
        for label, record in story:
            await a.post_record(record.wire)
            signers = "A and the member" if len(record.signers) == 2 else "A"
            say(f"A publishes {label:<12} {record.id.hex()[:16]}…  signed by {signers}")
    profile_id = bytes.fromhex(
        await _profile_id(homes[0][1], identities[0].get("key", identities[0]["org"]))
    )
    wanted = [("org.profile", profile_id)] + [(label, r.id) for label, r in story]
    say("C is not a peer of A; watching records arrive at C through B:")
    arrived = await _watch(homes[2][1], wanted, time.monotonic() + 20, started)
    say("checked at C, offline from A (canonical encoding, schema, every signature, time):")
    for label, wire in arrived:
        record = validate_record(wire, int(time.time() * 1000))
        who = ", ".join("A" if k == org.public_key.raw else "member" for k in record.signers)
        say(f"  ✓ {label:<12} {record.id.hex()[:16]}…  {len(wire)} bytes, signatures by {who}")
    say(
        "the attestation names the alliance, whose parties are exactly A and the member: "
        "it is grounded, portable reputation the member can carry to any node."
    )


async def _profile_id(url: str, org_did: str) -> str:
    async with client(url) as a:
        page = await a.list_records(kind="org.profile", author=org_did)
    return page["records"][-1]["id"]


async def _watch(
    url: str, wanted: list[tuple[str, bytes]], deadline: float, started: float
) -> list[tuple[str, bytes]]:
    arrived: dict[bytes, bytes] = {}
    async with client(url) as c:
        while len(arrived) < len(wanted) and time.monotonic() < deadline:
            for label, rid in wanted:
                if rid not in arrived and (wire := await c.get_record_wire(rid)) is not None:
                    arrived[rid] = wire
                    say(
                        f"  [{time.monotonic() - started:5.1f} s] {label:<12} "
                        f"{rid.hex()[:16]}… is at C"
                    )
            await asyncio.sleep(0.1)
    missing = [label for label, rid in wanted if rid not in arrived]
    if missing:
        raise CliError(f"C did not receive {', '.join(missing)} in time")
    return [(label, arrived[rid]) for label, rid in wanted]


async def _leave_draft(home: tuple[Path, str], root: Path) -> tuple[str, Path]:
    """A draft alliance from A for a new member to co-sign in the browser, and that member's
    wallet (unencrypted: a demo key)."""
    org = load_keys(home[0]).org
    member = SigningKey.generate()
    wallet = root / "demo-member-wallet.key"
    save_signing_key(wallet, member)
    now = int(time.time() * 1000)
    terms = b"Rakuichi demo terms: twelve weeks, fixed fee, shared IP.\n"
    (root / "demo-terms.txt").write_bytes(terms)
    draft = Draft.new(
        kinds.ALLIANCE,
        org.public_key.raw,
        now,
        {
            "member": member.public_key.raw,
            "tour": "rotational",
            "mission": "Run the federation's first public board for twelve weeks.",
            "starts": now + 7 * DAY_MS,
            "ends": now + 91 * DAY_MS,
            "org_commits": ["a mentor in the platform team", "a conference budget"],
            "member_commits": ["a weekly demo", "a written hand-over"],
            "terms": sha256(terms),
            "alumni": True,
        },
    ).sign(org)
    async with client(home[1]) as a:
        await a.post_draft(draft.wire)
    return f"{home[1]}/drafts/{draft.id.hex()}", wallet


def _serve(
    homes: list[tuple[Path, str]],
    processes: list[subprocess.Popen[bytes]],
    draft: str,
    wallet: Path,
) -> None:
    say("the three boards (open them in a browser):")
    for label, (_, url) in zip("ABC", homes, strict=True):
        say(f"  {label}  {url}/")
    say(f"a draft alliance for a new member to co-sign in the browser: {draft}")
    say(f"  with the member's wallet {wallet} (terms document beside it: demo-terms.txt)")
    say("serving until Ctrl-C")
    # Ctrl-C stops it even when started with SIGINT ignored (a background job of a script)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        say("a node stopped on its own; see its node.log (--keep keeps the homes)")
    except KeyboardInterrupt:
        say("")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_demo(args: argparse.Namespace) -> None:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="rakuichi-demo-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        homes = _make_homes(root)
        for home, _ in homes:
            log = (home / "node.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "node", "run", "--home", str(home)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        run_async(_run(homes, processes, started))
        if args.serve:
            draft_url, wallet = run_async(_leave_draft(homes[0], root))
            _serve(homes, processes, draft_url, wallet)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        say(f"stopped all three nodes; demo took {time.monotonic() - started:.1f} s")
        if args.keep:
            say(f"homes kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
