"""What a person does on the dashboard, and the bad input the issue lists: the rule editor as
they type (a broken rule, an injection, the right count, saving), the customer search (a phone
written another way, an unknown identifier), HTML and script in names and events, missing,
wrong, revoked and write-only tokens."""

from __future__ import annotations

import urllib.error
import urllib.request

from playwright.sync_api import Browser

from personae.access import KeyRing
from tests.dashboard.browser import (
    EVIL_EMAIL,
    EVIL_EVENT,
    EVIL_LAST,
    EVIL_NAME,
    EVIL_PROPERTY,
    log_in,
    number,
    recorded,
)
from tests.server.live import Served


def _count(served: Served, query: str) -> int:
    return int(served.workspace.sql(query).to_pylist()[0]["n"])


def _type_rule(page: object, rule: str, wait_for: str) -> str:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.fill("#rule", rule)
    page.wait_for_function(
        "([text, selector]) => { const e = document.querySelector(selector); "
        "const p = document.querySelector('#preview > [data-rule]'); "
        "return e && p && p.getAttribute('data-rule') === text; }",
        arg=[rule, wait_for],
        timeout=15000,
    )
    return page.inner_text(wait_for)


def test_the_rule_editor_counts_as_you_type_and_points_at_errors(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    page.goto(f"{served.url}/dashboard/rules")
    with recorded(page, served.url) as visit:
        shown = _type_rule(page, "orders > 2 and revenue > 100", "[data-testid=rule-count]")
        expected = _count(
            served, "SELECT count(*) AS n FROM profiles WHERE known_customer AND orders > 2 AND revenue > 100"
        )
        assert number(shown) == expected > 0
        error = _type_rule(page, "orders > 2 and spend > 10", "[data-testid=rule-error]")
        assert "unknown column 'spend'" in error
        lines = error.splitlines()
        caret = next(line for line in lines if line.strip().startswith("^"))
        rule_line = lines[lines.index(caret) - 1]
        assert rule_line[caret.index("^") : caret.index("^") + 5] == "spend"
        shown = _type_rule(page, "orders > 3", "[data-testid=rule-count]")
        assert number(shown) == _count(served, "SELECT count(*) AS n FROM profiles WHERE known_customer AND orders > 3")
    assert visit.problems() == []
    page.context.close()


def test_an_injection_in_the_editor_is_refused_and_changes_nothing(served: Served, browser: Browser) -> None:
    before = _count(served, "SELECT count(*) AS n FROM profiles")
    definitions = _count(served, "SELECT count(*) AS n FROM segment_definitions")
    page = log_in(browser, served.url, served.admin)
    page.goto(f"{served.url}/dashboard/rules")
    for attack, said in (
        ("orders > 1; drop table profiles", "a rule is one expression"),
        ("orders > (select count(*) from profiles)", "subqueries are not allowed"),
        ("orders > 1 -- and 1 = 1", ""),
    ):
        error = _type_rule(page, attack, "#preview")
        if said:
            assert said in error, error
        page.fill("#name", "attack")
        page.click("form.editor button[type=submit]")
        page.wait_for_selector("[data-testid=save-error], [data-testid=save-ok]")
        if said:
            assert page.locator("[data-testid=save-error]").count() == 1
        page.evaluate("document.querySelector('#saved').innerHTML = ''")
    assert _count(served, "SELECT count(*) AS n FROM profiles") == before
    stored = served.workspace.sql("SELECT rule FROM segment_definitions WHERE name = 'attack'").to_pylist()
    assert all(";" not in row["rule"] and "select" not in row["rule"].lower() for row in stored)
    assert _count(served, "SELECT count(*) AS n FROM segment_definitions") <= definitions + 1
    page.context.close()


def test_saving_a_rule_needs_an_admin_token(served: Served, browser: Browser) -> None:
    reader = log_in(browser, served.url, served.reader)
    reader.goto(f"{served.url}/dashboard/rules")
    _type_rule(reader, "orders >= 5", "[data-testid=rule-count]")
    reader.fill("#name", "frequent_five")
    reader.click("form.editor button[type=submit]")
    refused = reader.wait_for_selector("[data-testid=save-error]")
    assert refused is not None and "admin" in refused.inner_text()
    assert _count(served, "SELECT count(*) AS n FROM segment_definitions WHERE name = 'frequent_five'") == 0
    reader.context.close()
    admin = log_in(browser, served.url, served.admin)
    admin.goto(f"{served.url}/dashboard/rules")
    _type_rule(admin, "orders >= 5", "[data-testid=rule-count]")
    admin.fill("#name", "frequent_five")
    admin.click("form.editor button[type=submit]")
    saved = admin.wait_for_selector("[data-testid=save-ok]")
    assert saved is not None and "frequent_five version 1" in saved.inner_text()
    stored = served.workspace.sql("SELECT rule FROM segment_definitions WHERE name = 'frequent_five'").to_pylist()
    assert stored == [{"rule": "orders >= 5"}]
    admin.context.close()


def test_the_search_finds_a_phone_written_another_way(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    uid = served.workspace.sql(
        "SELECT uid FROM identity_map WHERE id_type = 'phone' AND id_value = '+12175550147'"
    ).to_pylist()[0]["uid"]
    for typed in ("217.555.0147", "+1 217 555 0147", "phone:2175550147"):
        page.goto(f"{served.url}/dashboard/customer")
        page.fill("#q", typed)
        page.click("form.search button")
        page.wait_for_selector("[data-testid=uid]")
        assert page.inner_text("[data-testid=uid]").strip() == uid, typed
    page.context.close()


def test_an_unknown_identifier_is_said_plainly(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    answer = page.goto(f"{served.url}/dashboard/customer?q=nobody%40nowhere.example")
    assert answer is not None and answer.status == 404
    problem = page.inner_text("[data-testid=problem]")
    assert "nobody has the identifier 'nobody@nowhere.example'" in problem
    assert "Traceback" not in page.content()
    page.context.close()


def test_html_and_script_in_names_and_events_are_shown_as_text(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    with recorded(page, served.url) as visit:
        page.goto(f"{served.url}/dashboard/customer?q={EVIL_EMAIL}")
        page.wait_for_load_state("networkidle")
    assert visit.problems() == []  # no dialog opened, no script ran, nothing fetched
    golden = page.inner_text("[data-testid=golden]")
    assert EVIL_NAME in golden and EVIL_LAST in golden
    timeline = page.inner_text("[data-testid=timeline]")
    assert (EVIL_EVENT in timeline and EVIL_PROPERTY.replace('"', '\\"') in timeline) or EVIL_PROPERTY in timeline
    scripts = page.evaluate("[...document.scripts].filter(s => !s.src && s.type !== 'application/json').length")
    assert scripts == 0
    assert page.locator("main img, main b").count() == 0
    page.context.close()


def test_missing_wrong_revoked_and_write_tokens_are_turned_away(served: Served, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    answer = page.goto(f"{served.url}/dashboard/segments")
    assert answer is not None and answer.status == 401
    assert "personae keys create --scope read" in page.inner_text("[data-testid=login-problem]")
    for token, status, said in (
        ("pr_not-a-key", 401, "unknown or revoked key"),
        (served.write_key, 403, "this needs a read key"),
    ):
        page.goto(f"{served.url}/dashboard/login")
        page.fill("#token", token)
        with page.expect_response(f"{served.url}/dashboard/login") as sent:
            page.click("form.login button[type=submit]")
        assert sent.value.status == status
        assert said in page.inner_text("[data-testid=login-problem]")
    context.close()
    key, secret = served.workspace.create_key("read", name="short-lived")
    page = log_in(browser, served.url, secret)
    cookie = next(c for c in page.context.cookies() if c["name"] == "personae_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert secret not in page.url
    KeyRing(served.workspace.root).revoke(key.id)
    answer = page.goto(f"{served.url}/dashboard/overview")
    assert answer is not None and answer.status == 401
    assert "unknown or revoked key" in page.inner_text("[data-testid=login-problem]")
    page.context.close()
    request = urllib.request.Request(
        f"{served.url}/dashboard/overview", headers={"Authorization": f"Bearer {served.reader}"}
    )
    try:
        urllib.request.urlopen(request)
        raise AssertionError("a bearer header is not a dashboard session")
    except urllib.error.HTTPError as error:
        assert error.code == 401


def test_explaining_a_link_says_why_it_cannot_without_a_fuzzy_model(served: Served, browser: Browser) -> None:
    """The small world trains no fuzzy model (too few records): the fragment Customer 360 loads
    for a fuzzy link says so, as `personae identity explain` does."""
    page = log_in(browser, served.url, served.reader)
    answer = page.goto(f"{served.url}/dashboard/explain?first=crm%3AC9999999&second=crm%3AC1")
    assert answer is not None and answer.status == 200
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert "no fuzzy model" in page.inner_text("[data-testid=explain-error]")
    page.context.close()
