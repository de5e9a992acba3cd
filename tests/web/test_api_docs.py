"""Every example of docs/api.md runs against a real node process: the curl lines in a shell,
the Python (aiohttp) example as a script, and the browser JavaScript in headless Chromium on
a page from another origin."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from protocol.jsonview import to_json
from tests.support import Cast, now_ms, opportunity
from tests.support.browser import Browser
from tests.support.nodes import REPO_ROOT, NodeProcess, subprocess_env
from tests.web.conftest import post_record
from tests.web.test_cross_origin_stream import other_origin  # noqa: F401 - a fixture

DOC = REPO_ROOT / "docs" / "api.md"
DOC_NODE = "http://127.0.0.1:8470"


def blocks(language: str) -> list[str]:
    found = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, f"docs/api.md has no {language} example"
    return found


def prepare(node: NodeProcess, cwd: Path) -> dict[str, str]:
    """A record held by the node (its id in $ID), and two new ones to publish: record.json
    (a JSON view) and record.bin (wire bytes)."""
    cast = Cast.fresh()
    t0 = now_ms() - 10_000
    held = opportunity(cast.org, t0, slug="held", title="Platform engineer")
    post_record(node.url, held)
    as_json = opportunity(cast.org, t0 + 1, slug="json", title="Data engineer")
    as_wire = opportunity(cast.org_b, t0 + 2, slug="wire", title="Site engineer")
    (cwd / "record.json").write_text(json.dumps(to_json(as_json)))
    (cwd / "record.bin").write_bytes(as_wire.wire)
    return {"held": held.id.hex(), "json": as_json.id.hex(), "wire": as_wire.id.hex()}


def test_curl_and_python_examples(
    other_origin: tuple[NodeProcess, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    node, _ = other_origin
    ids = prepare(node, tmp_path)
    script = "set -euo pipefail\n" + "\n".join(blocks("sh")).replace(DOC_NODE, node.url)
    run = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**subprocess_env(), "ID": ids["held"]},
        check=False,
    )
    assert run.returncode in (0, 28), run.stderr  # 28: curl's --max-time ended the stream
    out = run.stdout
    assert '"software": "rakuichi"' in out or '"software":"rakuichi"' in out
    assert f'etag: "{ids["held"]}"' in out.lower()
    assert "\n304\n" in out
    assert f'{{"id": "{ids["json"]}", "stored": true}}' in out
    assert f'{{"id": "{ids["wire"]}", "stored": true}}' in out
    assert f'"id":"{ids["held"]}"' in out and "event: opportunity" in out  # the stream

    (tmp_path / "record.json").write_text(
        json.dumps(to_json(opportunity(Cast.fresh().org, now_ms() - 5000, slug="py")))
    )
    (python_example,) = blocks("python")
    (tmp_path / "example.py").write_text(python_example.replace(DOC_NODE, node.url))
    run = subprocess.run(
        [sys.executable, "example.py"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=subprocess_env(),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Platform engineer" in run.stdout
    assert "published: 201" in run.stdout
    assert f"event: 2 opportunity {ids['held']}" in run.stdout or "event:" in run.stdout


def test_browser_javascript_example(
    browser: Browser,
    other_origin: tuple[NodeProcess, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    node, page_url = other_origin
    ids = prepare(node, tmp_path)
    view = json.loads((tmp_path / "record.json").read_text())
    (example,) = blocks("js")
    browser.get(page_url)
    browser.driver.execute_script("window.stream.close()")  # the page's own: not needed here
    browser.driver.set_script_timeout(60)
    wrapper = (
        "const finish = arguments[arguments.length - 1];"
        "const view = arguments[0];"
        "window.exampleLogs = [];"
        "const console = { log: (...parts) => window.exampleLogs.push(parts.join(' ')) };"
        "(async () => {"
        + example.replace(DOC_NODE, node.url).replace(
            "const stream =", "const stream = window.stream ="
        )
        + "})().then("
        "() => finish('ok'), (e) => finish(String(e)));"
    )
    assert browser.driver.execute_async_script(wrapper, view) == "ok"

    def delivered() -> list[str] | None:
        logs: list[str] = browser.driver.execute_script("return window.exampleLogs")
        return logs if any(ids["json"] in line for line in logs) else None

    logs = browser.wait_for(delivered, "the example's stream to deliver the published record")
    assert any(line.startswith("records 1 resume later from") for line in logs), logs
    assert "published 201 [object Object]" in logs or any("published 201" in x for x in logs)
    assert any(line.startswith("event ") and ids["held"] in line for line in logs), logs
    browser.driver.execute_script("window.stream.close()")  # before the node stops
