"""``rakuichi demo --serve``: the three nodes keep running, each board's URL is printed, and
Ctrl-C stops them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.support.nodes import REPO_ROOT, rakuichi_command, subprocess_env

pytestmark = pytest.mark.slow


def test_demo_serve_prints_the_boards_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [*rakuichi_command(), "demo", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "serving until Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "serving until Ctrl-C" in output, output
        boards = re.findall(r"^  [ABC]  (http://127\.0\.0\.1:\d+)/$", output, re.M)
        assert len(boards) == 3, output
        for board in boards:
            with urllib.request.urlopen(board + "/", timeout=10) as page:
                assert "Data platform lead" in page.read().decode()
        draft = re.search(r"co-sign in the browser: (\S+)", output)
        assert draft is not None, output
        with urllib.request.urlopen(draft.group(1), timeout=10) as page:
            assert 'id="cosign"' in page.read().decode()
        time.sleep(1.0)
        assert proc.poll() is None  # still serving
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "stopped all three nodes" in rest
    finally:
        if proc.poll() is None:  # the demo and its three nodes: one process group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
