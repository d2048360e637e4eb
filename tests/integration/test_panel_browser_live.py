"""The operator panel in a real browser on live calls (docs/panel.md): Debian's chromium
signs in, watches pjsua2 phones ring and talk without a reload, parks a call and takes
it back from the page, pauses an agent and sees the next call pass it over. Screenshots
of each state are kept in var/test-logs/panel/."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions

from tests.integration.browser import (
    SCREENSHOTS,
    Browser,
    chromium,
    console_errors,
    screenshot,
    wait_for,
)
from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess

PASSWORD = "panel-test-" + secrets.token_hex(8)

# Installed in the page by the tests: the browser's clock (epoch ms) when an agent's
# row first showed a state, so that the delay after the phone saw it can be measured.
WATCH_STATE = """
const [number, state] = arguments;
window.seenAt = window.seenAt || {};
const key = number + ':' + state;
const look = () => {
  const row = document.querySelector(`tr[data-agent="${number}"]`);
  if (row && row.dataset.state === state && !(key in window.seenAt)) {
    window.seenAt[key] = performance.timeOrigin + performance.now();
  }
};
new MutationObserver(look).observe(document.body,
  {subtree: true, childList: true, attributes: true});
look();
"""


class PanelOffice(Office):
    def user(self, username: str, role: str = "user") -> str:
        """A user with the test's password; returns its id."""
        printed = self.bridge.cli("users", "create", "--tenant", self.company, "--username",
                                  username, "--role", role, "--password",
                                  answers=f"{PASSWORD}\n{PASSWORD}\n")
        found = re.search(r"\(id (\S+), role", printed)
        assert found is not None, printed
        return found.group(1)


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> PanelOffice:
    """Ann (admin) owns 3801, Bob (user) owns 3802; group 6801 rings both at once."""
    suffix = secrets.token_hex(3)
    made = PanelOffice(bridge, phone, company=f"Panel Taxis {suffix}",
                       sip_domain=f"panel{suffix}.example").create()
    made.extension("3801", user_id=made.user("ann", "admin"), display_name="Ann")
    made.extension("3802", user_id=made.user("bob"), display_name="Bob")
    made.group("6801", ["3801", "3802"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=30)
    return made


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Closed after checking that the page's own scripts, styles and connections ran
    under its Content-Security-Policy without one being blocked."""
    with chromium() as driver:
        yield driver
        blocked = [m for m in console_errors(driver) if "Content Security Policy" in m]
        assert blocked == []


def sign_in(driver: Browser, office: PanelOffice, username: str) -> None:
    driver.get(office.bridge.url + "/panel")
    wait_for(driver, lambda d: d.find_elements(By.ID, "signin"), "the sign-in form")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.NAME, "domain").send_keys(office.domain)  # each test's tenant
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "live").text == "live",
             "its event stream open")


def row(driver: Browser, selector: str) -> dict[str, str] | None:
    """A row's text and data attributes, read in one step: the page renders its rows
    anew with each pushed state, so an element found a moment ago may be gone."""
    found: dict[str, str] | None = driver.execute_script("""
        const row = document.querySelector(arguments[0]);
        return row ? {text: row.innerText, ...row.dataset} : null;""", selector)
    return found


def agent_state(driver: Browser, number: str) -> str | None:
    found = row(driver, f'tr[data-agent="{number}"]')
    return found["state"] if found else None


def agent_text(driver: Browser, number: str) -> str:
    found = row(driver, f'tr[data-agent="{number}"]')
    return found["text"] if found else ""


def wait_agent(driver: Browser, number: str, state: str) -> None:
    wait_for(driver, lambda d: agent_state(d, number) == state, f"{number} {state}")


def click(driver: Browser, selector: str) -> None:
    """Found and clicked in one step (see `row`); the click comes just after the script
    returns, so a prompt it opens does not hold the script up. The button is found again
    then: an update of the page in between (a call's end) replaces it, and a click on
    the one replaced reaches no handler (seen: a Resume never sent)."""
    wait_for(driver, lambda d: d.execute_script("""
        const selector = arguments[0];
        const button = document.querySelector(selector);
        if (!button || button.disabled) return false;
        setTimeout(() => document.querySelector(selector)?.click(), 0);
        return true;""", selector), selector)


def choose(driver: Browser, selector: str, value: str) -> None:
    wait_for(driver, lambda d: d.execute_script("""
        const [selector, value] = arguments;
        const list = document.querySelector(selector);
        if (!list) return false;
        list.value = value;
        list.dispatchEvent(new Event('change', {bubbles: true}));
        return list.value === value;""", selector, value), f"{value} in {selector}")


def notice(driver: Browser) -> str:
    return str(driver.find_element(By.ID, "notice").text)


def time_left(driver: Browser, slot: str) -> str:
    left: str = driver.execute_script(
        "const cell = document.querySelector(arguments[0]); return cell ? cell.innerText : ''",
        f"{slot} .time-left")
    return left


def page_delay_ms(driver: Browser, key: str, phone_saw: float) -> float:
    """How long after the phone saw it (time.monotonic()) the page showed `key`."""
    shown = driver.execute_script("return window.seenAt[arguments[0]]", key)
    assert shown is not None, f"the page never recorded {key}"
    return float(shown) - (phone_saw + time.time() - time.monotonic()) * 1000


def test_a_call_rings_is_answered_parked_and_taken_back_from_the_page(
        office: PanelOffice, browser: Browser) -> None:
    ann, bob, caller = office.phone("3801"), office.phone("3802"), office.phone("3809")
    sign_in(browser, office, "ann")
    wait_for(browser, lambda d: "registered" in agent_text(d, "3801").lower(), "3801 registered")
    screenshot(browser, "1-signed-in-idle")
    browser.execute_script(WATCH_STATE, "3801", "ringing")

    outgoing = caller.call("6801")
    ringing = ann.wait_incoming()
    wait_agent(browser, "3801", "ringing")
    assert "3809" in agent_text(browser, "3801")
    delay = page_delay_ms(browser, "3801:ringing", ringing.arrived_at)
    note = f"the panel showed 3801 ringing {delay:.0f} ms after its phone got the INVITE"
    (SCREENSHOTS / "timings.txt").write_text(note + "\n")  # measured, not asserted
    screenshot(browser, "2-ringing")

    ringing.answer()
    outgoing.wait_answered()
    bob.wait_incoming().wait_disconnected()  # rang beside 3801 until it answered
    wait_agent(browser, "3801", "talking")
    talking = row(browser, 'tr[data-call][data-state="talking"]')
    assert talking is not None
    call_id = talking["call"]
    screenshot(browser, "3-talking")

    click(browser, f'tr[data-call="{call_id}"] button[data-action="park"]')
    ringing.wait_disconnected()  # the agent's leg ends; the caller waits in the lot
    slot = f'tr[data-call="{call_id}"][data-slot]'
    wait_for(browser, lambda d: row(d, slot), "the parked call's slot")
    # The notice is the park's HTTP answer; the row comes on the event stream, which
    # may come first.
    wait_for(browser, lambda d: re.fullmatch(r"Parked in \d+", notice(d)), "the park's notice")
    left = time_left(browser, slot)
    assert re.fullmatch(r"\d+:\d\d", left), left
    wait_for(browser, lambda d: time_left(d, slot) != left, "the time left counting down")
    assert outgoing.state == "confirmed"  # the caller is still on, in the lot
    screenshot(browser, "4-parked-countdown")

    choose(browser, f'select[data-target-for="{call_id}"]', "3802")
    click(browser, f'{slot} button[data-action="unpark"]')
    taken = bob.wait_incoming()
    wait_agent(browser, "3802", "ringing")
    taken.answer()
    wait_agent(browser, "3802", "talking")
    assert "3809" in agent_text(browser, "3802")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-slot]")
    screenshot(browser, "5-taken-back-to-3802")
    outgoing.hangup()
    taken.wait_disconnected()
    wait_agent(browser, "3802", "idle")


def test_an_agent_paused_from_the_page_is_passed_over_until_resumed(
        office: PanelOffice, browser: Browser) -> None:
    ann, bob, caller = office.phone("3801"), office.phone("3802"), office.phone("3809")
    sign_in(browser, office, "ann")
    click(browser, 'tr[data-agent="3801"] button[data-action="pause"]')
    wait_for(browser, expected_conditions.alert_is_present(), "the reason prompt")
    prompt = browser.switch_to.alert
    prompt.send_keys("break")
    prompt.accept()
    wait_for(browser, lambda d: "break" in agent_text(d, "3801"), "3801 paused for a break")
    screenshot(browser, "6-paused")

    outgoing = caller.call("6801")
    ringing = bob.wait_incoming()
    wait_agent(browser, "3802", "ringing")
    assert agent_state(browser, "3801") == "idle"
    screenshot(browser, "7-next-call-rings-3802-only")
    ringing.reject()
    outgoing.wait_disconnected()
    assert ann.incoming == []  # the paused agent's phone never rang

    click(browser, 'tr[data-agent="3801"] button[data-action="resume"]')
    wait_for(browser, lambda d: (row(d, 'tr[data-agent="3801"]') or {}).get("paused")
             == "false", "3801 available again")
    again = caller.call("6801")
    ann.wait_incoming().reject()
    bob.wait_incoming().reject()
    again.wait_disconnected()


def tab_to(driver: Browser, selector: str, presses: int = 40) -> bool:
    """Press Tab from the top of the page until the element focused matches."""
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    for _ in range(presses):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.execute_script("return document.activeElement.matches(arguments[0])",
                                 selector):
            return True
    return False


def panel_fetch(driver: Browser, action: str, body: dict[str, Any],
                csrf: bool = True) -> dict[str, Any]:
    """An action sent from the signed-in page, as its script sends it (or without the
    CSRF token, as a forged request would come)."""
    answer: dict[str, Any] = driver.execute_async_script("""
        const [action, body, csrf, done] = arguments;
        const headers = {'Content-Type': 'application/json'};
        if (csrf) headers['X-CSRF-Token'] =
            document.querySelector('meta[name="csrf-token"]').content;
        fetch('/panel/actions/' + action, {method: 'POST', headers,
              body: JSON.stringify(body), credentials: 'same-origin'})
          .then(async r => done({status: r.status, body: await r.json()}));
    """, action, body, csrf)
    return answer


def test_a_user_acts_on_their_own_extension_only_and_signs_out(
        office: PanelOffice, browser: Browser) -> None:
    office.phone("3801"), office.phone("3802")
    sign_in(browser, office, "bob")
    wait_for(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, 'tr[data-agent="3802"] button[data-action="pause"]'),
        "a pause button on bob's own row")
    assert not browser.find_elements(
        By.CSS_SELECTOR, 'tr[data-agent="3801"] button[data-action="pause"]')
    reached = tab_to(browser, 'tr[data-agent="3802"] button[data-action="pause"]')
    assert reached, "the pause button cannot be reached with the keyboard"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, expected_conditions.alert_is_present(), "the reason prompt")
    browser.switch_to.alert.dismiss()  # cancelled: nothing is sent
    refused = panel_fetch(browser, "pause", {"extension": "3801"})
    assert refused["status"] == 403 and "not your extension" in refused["body"]["message"]
    forged = panel_fetch(browser, "pause", {"extension": "3802"}, csrf=False)
    assert forged["status"] == 403 and "CSRF" in forged["body"]["message"]
    states = office.api("GET", "/api/extensions")["items"]
    assert not any(e["paused"] for e in states)  # neither refusal paused anybody
    screenshot(browser, "8-user-bob")

    browser.find_element(By.CSS_SELECTOR, "form[action='/panel/signout'] button").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "signin"), "the sign-in page again")
    browser.get(office.bridge.url + "/panel")
    wait_for(browser, lambda d: d.find_elements(By.ID, "signin"), "a signed-out session")
