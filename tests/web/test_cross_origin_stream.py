"""A page from another origin (a second tiny server on 127.0.0.1) reads a node in a real
headless Chromium: an ``EventSource`` on ``/v1/stream``, and a record posted as JSON with
``fetch`` (a CORS preflight), which then arrives on the stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from protocol.jsonview import to_json
from tests.support import Cast, now_ms, opportunity
from tests.support.browser import Browser
from tests.support.nodes import NodeProcess, make_home
from tests.web.conftest import post_record

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>other origin</title></head>
<body><pre id="log"></pre><script>
const node = %(node)s;
window.seen = [];
window.posted = null;
const stream = new EventSource(node + "/v1/stream?kind=opportunity");
stream.addEventListener("opportunity", (event) => {
  window.seen.push(JSON.parse(event.data).id);
  document.getElementById("log").textContent = window.seen.join("\\n");
});
stream.onopen = () => { document.title = "open"; };
window.stream = stream;
window.publish = async (view) => {
  const response = await fetch(node + "/v1/records", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(view),
  });
  window.posted = { status: response.status, body: await response.json() };
};
</script></body></html>"""


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[tuple[NodeProcess, str]]:
    """A node process, and a page server on another port (so another origin) pointing at it."""
    node = NodeProcess(make_home(tmp_path, "node")).start()
    node.wait_ready(30)
    page = (PAGE % {"node": json.dumps(node.url)}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield node, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        node.kill()


def test_event_source_from_another_origin_receives_records(
    browser: Browser, other_origin: tuple[NodeProcess, str]
) -> None:
    node, page_url = other_origin
    cast = Cast.fresh()
    browser.get(page_url)
    browser.wait_for(lambda: browser.driver.title == "open", "the stream to open")
    published = [opportunity(cast.org, now_ms() - 1000 + i, slug=f"x{i}") for i in range(3)]
    for record in published:
        post_record(node.url, record)
    ids = [r.id.hex() for r in published]
    browser.wait_for(
        lambda: browser.driver.execute_script("return window.seen.length") >= 3, "3 events"
    )
    assert browser.driver.execute_script("return window.seen") == ids
    from_page = opportunity(cast.org_b, now_ms() - 500, slug="from-the-browser")
    browser.driver.execute_script("window.publish(arguments[0])", to_json(from_page))
    posted = browser.wait_for(lambda: browser.driver.execute_script("return window.posted"), "post")
    assert posted == {"status": 201, "body": {"id": from_page.id.hex(), "stored": True}}
    browser.wait_for(
        lambda: browser.driver.execute_script("return window.seen.length") >= 4, "its event"
    )
    assert browser.driver.execute_script("return window.seen")[3] == from_page.id.hex()
    browser.driver.execute_script("window.stream.close()")  # before the node stops
