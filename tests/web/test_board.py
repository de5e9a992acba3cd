"""The board in a real browser: what A publishes shows on B's board, search and filters find
it, organisation and member pages show alliances and reputation, and records cannot script."""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select

from crypto import did_from_raw
from node.web.pages import PAGE_SIZE
from protocol import kinds
from protocol.builder import sign_record
from protocol.jsonview import to_json
from tests.support.browser import Browser
from tests.web.conftest import Pair
from tests.web.scene import (
    ARCHIVE,
    HOSTILE_SUMMARY,
    HOSTILE_TITLE,
    JA_TITLE,
    ORG_PRAISE,
    WITHDRAWN_TITLE,
    Scene,
)

pytestmark = pytest.mark.slow


def titles(browser: Browser) -> list[str]:
    return [e.text for e in browser.find_all("#opportunities article h3")]


def submit_filters(browser: Browser) -> None:
    """Submit the filter form and wait for the new page (the old one's elements go stale)."""
    old = browser.find("html")
    browser.find("#apply").click()
    browser.wait_for(lambda: staleness_of(old)(browser.driver), "the filtered page")
    browser.wait_for(
        lambda: browser.driver.execute_script("return document.readyState") == "complete",
        "page load",
    )
    browser.collect()


def test_opportunity_published_at_a_is_on_b_board_found_by_search_and_filters(
    pair: Pair, scene: Scene, browser: Browser
) -> None:
    browser.get(pair.b.url + "/")
    shown = titles(browser)
    assert "Data platform lead" in shown and "Foundry steward" in shown
    assert "Filled role" not in shown  # the board shows open opportunities unless asked

    browser.find("#q").send_keys("federated")
    submit_filters(browser)
    assert titles(browser) == ["Data platform lead"]

    browser.get(pair.b.url + "/")
    browser.find("#skill").send_keys("python")
    browser.find("#remote").click()
    submit_filters(browser)
    assert titles(browser) == ["Data platform lead"]

    browser.get(pair.b.url + "/")
    Select(browser.find("#tour")).select_by_value("foundational")
    submit_filters(browser)
    assert sorted(titles(browser)) == sorted(["Foundry steward", JA_TITLE])

    browser.get(pair.b.url + "/")
    Select(browser.find("#org")).select_by_visible_text("Cobalt Works")
    Select(browser.find("#status")).select_by_value("any")
    submit_filters(browser)
    assert sorted(titles(browser)) == ["Filled role", "Foundry steward"]

    browser.get(pair.b.url + "/")
    browser.find("#alumni").click()
    submit_filters(browser)
    assert titles(browser) == ["Alumni return tour"]

    browser.get(pair.b.url + "/?q=nothing-matches-this")
    assert browser.find("#no-results").is_displayed()


def test_a_script_in_a_record_is_shown_as_text_and_does_not_run(
    pair: Pair, scene: Scene, browser: Browser
) -> None:
    for path in ("/", f"/records/{scene.named['opp_hostile'].id.hex()}"):
        browser.get(pair.b.url + path)
        page = browser.text()
        assert HOSTILE_TITLE in page
        if path != "/":
            assert HOSTILE_SUMMARY in page
        assert browser.driver.execute_script("return window.__pwned") is None
        scripts = [s.get_attribute("src") for s in browser.find_all("script")]
        assert all(src and src.startswith(pair.b.url + "/static/") for src in scripts), scripts
        assert not browser.find_all("img[src='x']")


def test_record_page_says_who_signed_and_offers_the_wire_bytes(
    pair: Pair, scene: Scene, browser: Browser
) -> None:
    record = scene.named["alliance_aiko"]
    browser.get(f"{pair.b.url}/records/{record.id.hex()}")
    page = browser.text()
    assert "signatures verified" in page
    for signer in record.signers:
        assert did_from_raw(signer) in page
    assert "Move the data platform to a federated design." in page
    href = browser.find("#download").get_attribute("href")
    assert href == f"{pair.b.url}/records/{record.id.hex()}/wire"
    with urllib.request.urlopen(href, timeout=10) as response:
        assert response.read() == record.wire


def _groups(browser: Browser, section: str) -> dict[str, str]:
    return {
        e.get_attribute("data-relation"): e.text for e in browser.find_all(f"#{section} .relation")
    }


def test_org_page_lists_alumni_and_alliances_in_force_by_relation(
    pair: Pair, scene: Scene, browser: Browser
) -> None:
    org = scene.keys["org"].public_key.did
    browser.get(f"{pair.b.url}/orgs/{org}")
    alumni = _groups(browser, "alumni")
    assert set(alumni) == {"member", "supplier"}
    assert "Aiko Tanaka" in alumni["member"] and "佐藤 花子" not in alumni["member"]
    assert "Sakura Supply" in alumni["supplier"] and "Suppliers" in alumni["supplier"]
    in_force = _groups(browser, "in-force")
    assert set(in_force) == {"member", "customer"}
    assert "佐藤 花子" in in_force["member"]  # her alliance is still in force
    assert "Customers" in in_force["customer"]
    assert "Data platform lead" in browser.find("#opportunities").text
    praise = browser.find(f"#reputation #a-{scene.named['org_praise'].id.hex()}").text
    assert ORG_PRAISE in praise and "Aiko Tanaka" in praise and "recommendation" in praise
    assert "grounded" in praise  # it rests on Aiko's alliance with the organisation


def test_member_page_shows_grounded_reputation_and_ungrounded_apart(
    pair: Pair, scene: Scene, browser: Browser
) -> None:
    member = scene.keys["aiko"].public_key.did
    browser.get(f"{pair.b.url}/members/{member}")
    grounded = browser.find(".grounded").text
    assert "Designed and shipped our replication layer." in grounded
    assert "distributed systems" in grounded
    skill = browser.find(f"#a-{scene.named['skill'].id.hex()}")
    reply = skill.find_element("css selector", ".reply").text  # beside its target
    assert "Thank you: it was a team effort." in reply and "Reply" in reply
    ungrounded = browser.find(".ungrounded").text
    assert "Heard good things." in ungrounded and "Heard good things." not in grounded
    assert "not grounded" in browser.text("#reputation").lower()
    assert "Alumni of" in browser.text("#alliances")


def _visible_ui_text(browser: Browser, scene: Scene) -> str:
    """The page's text without what records say, keys, ids and the language switch."""
    text = browser.text()
    text = text.replace(browser.find("#lang-switch").text, " ")
    for said in scene.texts():
        text = text.replace(said, " ")
    text = re.sub(r"https?://\S+", " ", text)  # node URLs in organisation profiles
    text = re.sub(r"did:key:z[1-9A-HJ-NP-Za-km-z]*…[1-9A-HJ-NP-Za-km-z]+", " ", text)
    text = re.sub(r"did:key:z[1-9A-HJ-NP-Za-km-z]+", " ", text)
    text = re.sub(r"[0-9a-f]{16}…[0-9a-f]{6}|[0-9a-f]{64}", " ", text)
    return re.sub(r"z[1-9A-HJ-NP-Za-km-z]{10,}…\w+", " ", text)


def test_japanese_board_shows_no_english_ui_string(
    pair: Pair, scene: Scene, browser_factory: object
) -> None:
    browser = browser_factory(accept_language="ja")  # type: ignore[operator]
    org = scene.keys["org"].public_key.did
    member = scene.keys["aiko"].public_key.did
    for path in (
        "/",
        f"/orgs/{org}",
        f"/members/{member}",
        "/verify",
        f"/records/{scene.named['alliance_aiko'].id.hex()}",
    ):
        browser.get(pair.b.url + path)
        assert browser.find("html").get_attribute("lang") == "ja"
        leftover = _visible_ui_text(browser, scene)
        english = re.findall(r"[A-Za-z]{2,}", leftover)
        assert english == [], f"{path}: English in the Japanese page: {english}\n{leftover}"
        assert "募集" in browser.text()


def test_language_switch_is_kept_in_a_cookie(pair: Pair, scene: Scene, browser: Browser) -> None:
    browser.get(pair.b.url + "/")
    assert "Opportunities" in browser.text("h1")
    browser.find("#lang-switch").click()
    browser.wait_for(lambda: "募集" in browser.text("h1"), "the Japanese board")
    browser.get(pair.b.url + "/verify")
    assert browser.find("html").get_attribute("lang") == "ja"
    browser.get(pair.b.url + "/?lang=en")
    assert browser.find("html").get_attribute("lang") == "en"


def test_phone_width_has_no_horizontal_scroll(pair: Pair, scene: Scene, browser: Browser) -> None:
    browser.driver.set_window_size(390, 844)
    for path in ("/", f"/members/{scene.keys['aiko'].public_key.did}"):
        browser.get(pair.b.url + path)
        overflow = browser.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"


def fetch(url: str, lang: str = "en") -> tuple[int, dict[str, str], str]:
    """Status, headers and text of a page, read without a browser (pages work without JS)."""
    request = urllib.request.Request(url, headers={"Accept-Language": lang})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_a_retracted_record_answers_410_and_says_so_in_both_languages(
    pair: Pair, scene: Scene
) -> None:
    withdrawn = scene.named["withdrawn"].id.hex()
    for lang, said in (("en", "retracted by its author"), ("ja", "撤回済み")):
        status, _, page = fetch(f"{pair.b.url}/records/{withdrawn}", lang)
        assert status == 410 and said in page, (lang, status)
        assert WITHDRAWN_TITLE not in page
    assert fetch(f"{pair.b.url}/records/{withdrawn}/wire")[0] == 410
    held = scene.named["archive_0"].id.hex()
    assert fetch(f"{pair.b.url}/records/{held}")[0] == 200  # its neighbours are not retracted


def _board_titles(page: str) -> list[str]:
    return re.findall(r'<h3><a href="/records/[0-9a-f]{64}">([^<]*)</a></h3>', page)


def _link(page: str, text: str) -> str | None:
    """The href of the paging link whose text is ``text`` (unescaped)."""
    found = re.search(r'<nav class="paging">(.*?)</nav>', page, re.S)
    assert found, "no paging navigation"
    for href, label in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>([^<]*)</a>', found.group(1)):
        if label.strip() == text:
            return html.unescape(href)
    return None


def test_board_pages_without_overlap_and_back_to_the_first_page(pair: Pair, scene: Scene) -> None:
    archive = scene.keys["archive"].public_key.did
    first_url = f"{pair.b.url}/?{urllib.parse.urlencode({'org': archive, 'status': 'any'})}"
    status, _, page = fetch(first_url)
    assert status == 200
    first = _board_titles(page)
    assert len(first) == PAGE_SIZE and _link(page, "First page") is None
    seen, url, pages = list(first), _link(page, "Next page"), 1
    while url is not None and pages < 10:  # bounded: the archive fills two pages
        status, _, page = fetch(pair.b.url + url)
        assert status == 200, url
        seen += _board_titles(page)
        pages += 1
        back = _link(page, "First page")
        assert back is not None, "no way back to the first page"
        status, _, again = fetch(pair.b.url + back)
        assert _board_titles(again) == first, f"{back} is not the first page"
        url = _link(page, "Next page")
    assert pages == 2 and url is None
    assert len(seen) == len(set(seen)) == ARCHIVE  # no overlap, none lost
    assert WITHDRAWN_TITLE not in seen  # the retracted one is gone
    archived = [scene.named[f"archive_{i}"] for i in range(ARCHIVE)]
    newest_first = sorted(archived, key=lambda r: (r.created, r.id), reverse=True)
    assert seen == [r.body["title"] for r in newest_first]  # ties: the greater id first

    # the unfiltered board of every status pages through the archive after the scene's own
    _, _, page = fetch(f"{pair.b.url}/?status=any")
    assert len(_board_titles(page)) == PAGE_SIZE and _link(page, "Next page")


def test_pages_allow_no_inline_code_and_the_browser_asks_only_the_node(
    pair: Pair, scene: Scene, browser: Browser
) -> None:
    paths = ("/", f"/orgs/{scene.keys['org'].public_key.did}")
    paths += (f"/members/{scene.keys['aiko'].public_key.did}",)
    loaded: list[str] = []  # resources each page loaded, as the page itself saw them
    for path in paths:
        status, headers, _ = fetch(pair.b.url + path)
        csp = headers.get("Content-Security-Policy", "")
        assert status == 200 and "script-src 'self'" in csp, (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (path, csp)
        browser.get(pair.b.url + path)
        loaded += browser.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
    assert any("/static/" in u for u in loaded), "no asset was loaded at all"
    # what went on the network (Chromium's own chrome:// pages, e.g. its first tab, do not)
    sent = [r["url"] for r in browser.requests()]
    sent = [u for u in sent if u.split(":", 1)[0] in ("http", "https", "ws", "wss")]
    assert len(sent) >= len(paths)
    elsewhere = [u for u in sent + loaded if not u.startswith(pair.b.url + "/")]
    assert elsewhere == [], f"requests to other origins: {elsewhere}"


def _drop(browser: Browser, base: str, bundle: Path) -> None:
    """Open /verify, choose ``bundle`` in its file input and submit it."""
    browser.get(base + "/verify")
    browser.find("#bundle").send_keys(str(bundle))
    old = browser.find("html")
    browser.find("form[action='/verify'] button[type=submit]").click()
    browser.wait_for(lambda: staleness_of(old)(browser.driver), "the verdict page")
    browser.wait_for(lambda: browser.find_all("#verify-verdict"), "the verdict")
    browser.collect()


def _count_records(base: str) -> int:
    count, cursor = 0, ""
    for _ in range(100):  # bounded: the scene is a few pages of 500
        query = "?limit=500" + (f"&cursor={cursor}" if cursor else "")
        with urllib.request.urlopen(f"{base}/v1/records{query}", timeout=10) as response:
            page = json.loads(response.read())
        count += len(page["records"])
        if not page["records"]:
            return count
        cursor = page["next"]
    raise AssertionError("/v1/records did not end")


def test_verify_checks_a_bundle_record_by_record_and_stores_nothing(
    pair: Pair, scene: Scene, browser: Browser, tmp_path: Path
) -> None:
    aiko = scene.keys["aiko"].public_key.did
    with urllib.request.urlopen(f"{pair.b.url}/v1/reputation/{aiko}/bundle", timeout=10) as r:
        fetched = r.read()
    held_before = _count_records(pair.b.url)
    # one attestation more that no node holds: checked, shown, and not stored
    fresh = sign_record(
        scene.keys["org"],
        kinds.ATTESTATION,
        scene.named["skill"].created + 1,
        {
            "subject": scene.keys["aiko"].public_key.raw,
            "claim": "recommendation",
            "alliance": scene.named["alliance_aiko"].id,
            "text": "Checked in the browser, stored nowhere.",
        },
    )
    doc = json.loads(fetched)
    doc["records"].append({"wire": fresh.wire.hex(), "view": to_json(fresh)})
    (tmp_path / "fetched.json").write_bytes(fetched)
    (tmp_path / "fresh.json").write_text(json.dumps(doc))
    entries = doc["records"]

    _drop(browser, pair.b.url, tmp_path / "fetched.json")
    assert browser.text("#verify-verdict") == "Every record checks."
    listed = browser.text("#verify-records")
    assert len(browser.find_all("#verify-records li")) == len(entries) - 1
    for entry in entries[:-1]:
        assert entry["view"]["id"][:16] in listed, entry["view"]["kind"]
    checked = browser.text("#verify-report .checked")
    for text in ("Designed and shipped our replication layer.", "Heard good things."):
        assert text in checked

    _drop(browser, pair.b.url, tmp_path / "fresh.json")
    assert browser.text("#verify-verdict") == "Every record checks."
    assert "Checked in the browser, stored nowhere." in browser.text("#verify-report .checked")

    # one byte of one signature changed (in the wire bytes and in the view beside them)
    target = next(e for e in entries if e["view"]["id"] == scene.named["skill"].id.hex())
    sig = target["view"]["sigs"][0]["sig"]
    bad = f"{int(sig[:2], 16) ^ 0x01:02x}{sig[2:]}"
    assert target["wire"].count(sig) == 1
    target["wire"] = target["wire"].replace(sig, bad)
    target["view"]["sigs"][0]["sig"] = bad
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    _drop(browser, pair.b.url, tmp_path / "tampered.json")
    assert browser.text("#verify-verdict") == "Some records do not check."
    refused = browser.text("#verify-report .refused")
    assert scene.named["skill"].id.hex() in refused and "refused (signature:" in refused
    assert not browser.find_all("#verify-report .checked")  # nothing of it counts

    assert fetch(f"{pair.b.url}/records/{fresh.id.hex()}")[0] == 404  # nothing stored
    assert _count_records(pair.b.url) == held_before
