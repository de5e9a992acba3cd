"""Logs an operator can read and ship: JSON lines, access lines, one line per peer transition."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from node.config import load_config
from tests.support import NodeProcess, free_port
from tests.support.federation import federation_home, set_peers


def json_lines(proc: NodeProcess) -> list[dict[str, object]]:
    lines = [line for line in proc.errors().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def wait_for_line(proc: NodeProcess, predicate, timeout: float = 60.0) -> dict[str, object]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in json_lines(proc) if predicate(entry)]
        if found:
            return found[0]
        assert proc.running, proc.errors()[-2000:]
        time.sleep(0.2)
    raise AssertionError(f"no such log line in:\n{proc.errors()[-3000:]}")


def get(url: str, headers: dict[str, str]) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5):
        pass


def test_json_access_lines_use_the_forwarded_address_only_from_trusted_proxies(
    tmp_path: Path,
) -> None:
    trusting = federation_home(tmp_path, "trusting", trusted_proxies=["127.0.0.0/8"])
    wary = federation_home(tmp_path, "wary")
    procs = [NodeProcess(h, ["--log-format", "json"]).start() for h in (trusting, wary)]
    for proc in procs:
        proc.wait_ready(30)
        get(f"{proc.url}/v1/orgs", {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"})
    for proc, client in zip(procs, ("198.51.100.7", "127.0.0.1"), strict=True):
        line = wait_for_line(
            proc, lambda e: e.get("logger") == "rakuichi.access" and e.get("path") == "/v1/orgs"
        )
        assert (line["client"], line["status"], line["method"]) == (client, 200, "GET")
        assert line["level"] == "INFO" and isinstance(line["duration_ms"], float)
        proc.terminate()


def test_a_peer_going_down_and_coming_back_is_logged_once_each(tmp_path: Path) -> None:
    port = free_port()
    b_url = f"http://127.0.0.1:{port}"
    a_home = federation_home(tmp_path, "a")
    set_peers(a_home, [b_url])
    a = NodeProcess(a_home, ["--log-format", "json"]).start()
    a.wait_ready(30)

    def down(entry: dict[str, object]) -> bool:
        return "is down" in str(entry.get("message")) and b_url in str(entry.get("message"))

    first = wait_for_line(a, down)
    assert first["level"] == "WARNING" and first["logger"].startswith("rakuichi.federation")  # type: ignore[union-attr]
    time.sleep(6)  # max_backoff 2 s: several retries happen meanwhile
    b_home = federation_home(tmp_path, "b", port=port)
    set_peers(b_home, [load_config(a_home).public_url])
    b = NodeProcess(b_home).start()
    b.wait_ready(30)
    back = wait_for_line(a, lambda e: "is back" in str(e.get("message")))
    assert back["level"] == "INFO"
    downs = [e for e in json_lines(a) if down(e) and e["level"] == "WARNING"]
    assert len(downs) == 1, downs
    a.terminate()
    b.terminate()


def test_per_logger_levels_silence_access_lines(tmp_path: Path) -> None:
    home = federation_home(tmp_path, "quiet")
    proc = NodeProcess(
        home, ["--log-format", "json", "--log-level", "rakuichi.access=WARNING"]
    ).start()
    proc.wait_ready(30)
    get(f"{proc.url}/v1/orgs", {})
    time.sleep(0.5)
    proc.terminate()
    entries = json_lines(proc)
    assert entries and not [e for e in entries if e["logger"] == "rakuichi.access"]
    assert any(e["logger"] == "rakuichi.node" for e in entries)
