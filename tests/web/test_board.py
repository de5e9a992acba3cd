"""The board in a real browser: what A publishes shows on B's board, search and filters find
it, organisation and member pages show alliances and reputation, and records cannot script."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select

from crypto import did_from_raw
from tests.support.browser import Browser
from tests.web.conftest import Pair
from tests.web.scene import HOSTILE_SUMMARY, HOSTILE_TITLE, JA_TITLE, Scene

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
    import urllib.request

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
