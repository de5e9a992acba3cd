"""deploy/: the systemd unit passes systemd-analyze, the container file builds (where the
tools work here; skipped otherwise), and both keep the promises docs/operations.md makes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.nodes import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "rakuichi.service"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"


def _unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's console script (verify checks that
    the command exists)."""
    script = Path(sys.executable).with_name("rakuichi")
    if not script.exists():
        pytest.skip("the rakuichi console script is not installed beside this interpreter")
    text = UNIT.read_text(encoding="utf-8").replace("/opt/rakuichi/bin/rakuichi", str(script))
    unit = tmp_path / "rakuichi.service"
    unit.write_text(text, encoding="utf-8")
    return unit


def test_the_unit_is_hardened_as_documented() -> None:
    text = UNIT.read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Za-z]+=", line)
    )
    assert settings["User"] == "rakuichi" and settings["StateDirectory"] == "rakuichi"
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings[key] == value, key
    assert "--home /var/lib/rakuichi" in settings["ExecStart"]


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = _unit_here(tmp_path)
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "rakuichi.service" not in result.stderr, result.stderr  # no warning about it
    security = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if security.returncode != 0 and "offline" in security.stderr:
        return  # an older systemd without offline security analysis
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert match, security.stdout[-500:] + security.stderr[-500:]
    assert float(match.group(1)) < 2.0, security.stdout[-2000:]


def test_the_container_file_keeps_its_promises() -> None:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.MULTILINE)
    assert re.search(r"^USER rakuichi$", text, re.MULTILINE)
    assert re.search(r"^VOLUME \[\"/home/rakuichi/node\"\]$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    sh = shutil.which("sh")
    if sh is not None:  # the entrypoint is at least valid shell
        entry = DEPLOY / "container" / "entrypoint.sh"
        assert subprocess.run([sh, "-n", str(entry)], check=False).returncode == 0
    compose = (DEPLOY / "container" / "compose.yaml").read_text(encoding="utf-8")
    assert "caddy" in compose and "RAKUICHI_TRUSTED_PROXIES" in compose
    caddyfile = (DEPLOY / "container" / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy node:8470" in caddyfile and "/metrics" in caddyfile


def _container_engine() -> str | None:
    """A container tool whose engine answers (a client without an engine does not count)."""
    for tool in ("docker", "podman"):
        path = shutil.which(tool)
        if path is None:
            continue
        try:
            info = subprocess.run([path, "info"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if info.returncode == 0:
            return path
    return None


def test_the_container_file_builds() -> None:
    engine = _container_engine()
    if engine is None:
        pytest.skip("no container engine answers here (a client alone cannot build)")
    result = subprocess.run(
        [engine, "build", "-f", str(CONTAINERFILE), "-t", "rakuichi-test:latest", str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
