"""Take the README's screenshots of the web board: ``python -m tests.web.screenshots``.

Two real node processes (A and B), the tests' scene published at A, a draft alliance left at A,
and the headless Chromium of the tests; the pictures go to docs/screenshots/.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from crypto import SigningKey, sha256
from node.config import load_keys
from protocol import Draft, kinds
from tests.support.browser import Browser
from tests.support.federation import federation_home, set_peers
from tests.support.nodes import REPO_ROOT, NodeProcess
from tests.web.conftest import post_record, wait_held
from tests.web.scene import build_scene
from tests.web.test_draft_cosign import post_draft

OUT = REPO_ROOT / "docs" / "screenshots"
DAY_MS = 86_400_000


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rakuichi-shots-"))
    homes = [federation_home(root, name) for name in ("Aurora", "Birchwood")]
    procs = [NodeProcess(h) for h in homes]
    set_peers(homes[0], [procs[1].url])
    set_peers(homes[1], [procs[0].url])
    browser = None
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_ready(30)
        org = load_keys(homes[0]).org
        scene = build_scene(org, relations=True)
        for record in scene.records:
            post_record(procs[0].url, record)
        wait_held(procs[1].url, scene.held_ids())
        now = int(time.time() * 1000)
        body = {
            "member": SigningKey.generate().public_key.raw,
            "tour": "transformational",
            "mission": "Move the data platform to a federated design within two quarters.",
            "starts": now + 7 * DAY_MS,
            "ends": now + 180 * DAY_MS,
            "org_commits": ["mentoring by the CTO", "a conference budget"],
            "member_commits": ["a documented migration plan", "weekly demos"],
            "terms": sha256(b"terms"),
            "alumni": True,
        }
        draft = Draft.new(kinds.ALLIANCE, org.public_key.raw, now, body).sign(org)
        post_draft(procs[0].url, draft.wire)
        pages = {
            "board": f"{procs[1].url}/",
            "org": f"{procs[1].url}/orgs/{org.public_key.did}",
            "draft": f"{procs[0].url}/drafts/{draft.id.hex()}",
        }
        browser = Browser(width=1100, height=900)
        for lang in ("en", "ja"):
            for name, url in pages.items():
                browser.driver.set_window_size(1100, 900)
                browser.get(f"{url}?lang={lang}")
                browser.screenshot(OUT / f"{name}-{lang}.png")
                print(OUT / f"{name}-{lang}.png")
        browser.check_no_console_errors()
    finally:
        if browser is not None:
            browser.close()
        for p in procs:
            if p.proc is not None:
                p.kill()


if __name__ == "__main__":
    main()
