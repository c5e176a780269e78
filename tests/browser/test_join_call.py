"""The join page's call panel in Chromium with fake camera and microphone, and its committed bundle.

The panel is served by tests/joining_harness.py on its include contract. A real call needs Azure, so
the in-call controls are driven through a stand-in for the bundle's window.AcsCalling API; the real
bundle is still loaded once, to show that it starts and that its errors reach the person.
"""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM_ARGS, _chromium, screenshot
from tests.joining_harness import EMULATOR_NOTICE, REFUSED

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.joining_harness")]

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor" / "acs-calling"
BUNDLE = "vendor/acs-calling/acs-calling.min.js"

# Chromium's fake devices: a test-pattern camera and a beeping microphone. Permission is granted
# (or not) per browser context, so the refused case needs no other browser.
MEDIA_ARGS = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]

# A stand-in for the bundle's API, recording what the panel asks of the SDK. Its call connects at
# once unless window.neverConnect is set, and has one remote participant with video.
FAKE_SDK = """
window.sdkLog = [];
(() => {
  const log = (entry) => window.sdkLog.push(entry);
  class Emitter {
    constructor() { this.handlers = {}; }
    on(event, handler) { (this.handlers[event] ??= []).push(handler); }
    emit(event, args) { (this.handlers[event] || []).forEach((handler) => handler(args)); }
  }
  const stream = { isAvailable: true, on() {} };
  class Call extends Emitter {
    constructor(options) {
      super();
      this.state = "Connecting";
      this.isMuted = Boolean(options?.audioOptions?.muted);
      this.remoteParticipants = [];
      log("video:" + (options?.videoOptions?.localVideoStreams?.length ?? 0));
    }
    connect() {
      this.state = "Connected";
      this.emit("stateChanged");
      const grace = Object.assign(new Emitter(), { displayName: "Grace Hopper" });
      grace.videoStreams = [stream];
      this.remoteParticipants = [grace];
      this.emit("remoteParticipantsUpdated", { added: [grace], removed: [] });
    }
    async mute() { log("mute"); this.isMuted = true; this.emit("isMutedChanged"); }
    async unmute() { log("unmute"); this.isMuted = false; this.emit("isMutedChanged"); }
    async startVideo() { log("startVideo"); }
    async stopVideo() { log("stopVideo"); }
    async hangUp() {
      log("hangUp");
      this.state = "Disconnected";
      this.callEndReason = { code: 0, subCode: 0 };
      this.emit("stateChanged");
    }
  }
  class CallClient {
    async createCallAgent(credential, options) {
      log("agent:" + credential.token + ":" + options.displayName);
      return {
        join(locator, options) {
          log("join:" + locator.roomId);
          const call = new Call(options);
          if (!window.neverConnect) setTimeout(() => call.connect(), 0);
          return call;
        },
        async dispose() { log("dispose"); },
      };
    }
    async getDeviceManager() {
      return {
        getMicrophones: async () => [{ id: "mic", name: "Fake microphone" }],
        selectMicrophone: async (device) => log("microphone:" + device.id),
        getCameras: async () => [{ id: "camera", name: "Fake camera" }],
      };
    }
  }
  class VideoStreamRenderer {
    async createView() {
      const target = document.createElement("div");
      target.className = "fake-view";
      return { target };
    }
    dispose() {}
  }
  class LocalVideoStream { constructor(source) { this.source = source; } }
  class AzureCommunicationTokenCredential { constructor(token) { this.token = token; } }
  window.AcsCalling = {
    CallClient, LocalVideoStream, VideoStreamRenderer, AzureCommunicationTokenCredential,
  };
})();
"""


@pytest.fixture(scope="module")
def media_chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=MEDIA_ARGS)
        yield browser
        browser.close()


def _tab(browser, live_server, *, allow_media: bool, width: int = 1280):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}, locale="en-GB"
    )
    if allow_media:
        context.grant_permissions(["camera", "microphone"], origin=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.requests = []
    tab.console_errors = []
    tab.on("request", lambda request: tab.requests.append(request))
    tab.on(
        "console",
        lambda msg: tab.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    tab.on("pageerror", lambda exc: tab.console_errors.append(str(exc)))
    return context, tab


@pytest.fixture
def call_page(media_chromium, live_server):
    context, tab = _tab(media_chromium, live_server, allow_media=True)
    yield tab
    context.close()


@pytest.fixture
def refusing_page(media_chromium, live_server):
    context, tab = _tab(media_chromium, live_server, allow_media=False)
    yield tab
    context.close()


@pytest.fixture
def phone_page(media_chromium, live_server):
    context, tab = _tab(media_chromium, live_server, allow_media=True, width=360)
    yield tab
    context.close()


def _bundle_requests(page) -> list[str]:
    return [request.url for request in page.requests if BUNDLE in request.url]


def _status(page):
    return page.locator("[data-call-status]")


def _error(page):
    return page.get_by_role("alert")


def _with_fake_sdk(page, *, never_connect: bool = False) -> None:
    page.route(
        f"**/{BUNDLE}",
        lambda route: route.fulfill(body=FAKE_SDK, content_type="text/javascript"),
    )
    if never_connect:
        page.add_init_script("window.neverConnect = true;")


def _checked(page, scenario: str) -> None:
    """Open the panel and wait for its device check to finish."""
    page.goto(f"/call/{scenario}/")
    expect(page.get_by_role("button", name="Join the call")).to_be_enabled()


def test_it_shows_a_live_camera_preview_and_a_microphone_meter(call_page):
    _checked(call_page, "emulated")

    expect(_status(call_page)).to_contain_text("your camera and microphone work")
    preview = call_page.get_by_label("Your camera")
    expect(preview).to_be_visible()
    call_page.wait_for_function(
        "() => { const v = document.querySelector('[data-call-preview]');"
        " return !v.paused && v.videoWidth > 0 && v.videoHeight > 0; }"
    )
    # Chromium's fake microphone beeps: the meter moves off zero.
    call_page.wait_for_function("() => document.querySelector('[data-call-level]').value > 0")
    # Chromium fakes one camera (nothing to choose) and three microphones (a choice).
    expect(call_page.get_by_label("Camera", exact=True)).to_be_hidden()
    microphones = call_page.get_by_label("Microphone", exact=True)
    expect(microphones.locator("option")).to_have_count(3)
    screenshot(call_page, "join-call-device-check")
    assert call_page.console_errors == []


def test_choosing_another_microphone_restarts_the_check_with_it(call_page):
    _checked(call_page, "emulated")
    microphones = call_page.get_by_label("Microphone", exact=True)
    other = microphones.locator("option").nth(2)
    label, device_id = other.text_content(), other.get_attribute("value")

    microphones.select_option(label=label)

    call_page.wait_for_function(
        "(id) => document.querySelector('[data-call-preview]').srcObject"
        "?.getAudioTracks()[0]?.getSettings().deviceId === id",
        arg=device_id,
    )
    expect(microphones).to_have_value(device_id)
    expect(_status(call_page)).to_contain_text("your camera and microphone work")


def test_turning_the_camera_off_before_joining_stops_the_preview(call_page):
    _checked(call_page, "emulated")

    call_page.get_by_role("button", name="Turn camera off").click()

    expect(call_page.get_by_label("Your camera")).to_be_hidden()
    expect(call_page.get_by_text("Camera off")).to_be_visible()
    assert call_page.evaluate(
        "() => document.querySelector('[data-call-preview]').srcObject"
        ".getVideoTracks().every((track) => !track.enabled)"
    )
    call_page.get_by_role("button", name="Turn camera on").click()
    expect(call_page.get_by_label("Your camera")).to_be_visible()


def test_join_on_the_emulator_shows_the_notice_and_loads_no_calling_bundle(call_page):
    _checked(call_page, "emulated")

    with call_page.expect_response("**/call/emulated/token/") as answer:
        call_page.get_by_role("button", name="Join the call").click()

    # The POST passed Django's CSRF check with the header the panel sent.
    assert answer.value.status == 200
    assert answer.value.request.method == "POST"
    assert answer.value.request.headers["x-csrftoken"]
    notice = call_page.locator("[data-call-notice]")
    expect(notice).to_have_text(EMULATOR_NOTICE)
    expect(_status(call_page)).to_contain_text("no call on the ACS emulator")
    expect(call_page.get_by_role("button", name="Join the call")).to_be_hidden()
    assert _bundle_requests(call_page) == []
    assert "AcsCalling" not in call_page.evaluate("() => Object.keys(window)")
    screenshot(call_page, "join-call-emulated")
    assert call_page.console_errors == []


def test_an_error_answer_shows_its_message_and_join_can_be_tried_again(call_page):
    _checked(call_page, "refused")

    call_page.get_by_role("button", name="Join the call").click()

    expect(_error(call_page)).to_have_text(REFUSED)
    expect(_status(call_page)).to_have_text("Not joined.")
    expect(call_page.get_by_role("button", name="Join the call")).to_be_enabled()
    assert _bundle_requests(call_page) == []


def test_it_says_so_when_the_camera_and_microphone_are_refused(refusing_page):
    _checked(refusing_page, "emulated")

    expect(_error(refusing_page)).to_contain_text(
        "You did not allow this page to use your camera and microphone"
    )
    expect(refusing_page.get_by_role("button", name="Check my devices again")).to_be_visible()
    # Joining without devices is still offered.
    refusing_page.get_by_role("button", name="Join the call").click()
    expect(refusing_page.locator("[data-call-notice]")).to_have_text(EMULATOR_NOTICE)


# getUserMedia as on a machine without a camera: any request for video finds no device.
NO_CAMERA = """
const realGetUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => constraints.video
  ? Promise.reject(new DOMException("Requested device not found", "NotFoundError"))
  : realGetUserMedia(constraints);
"""
NO_DEVICES = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Requested device not found", "NotFoundError"));
"""


def test_without_a_camera_it_checks_the_microphone_alone(call_page):
    call_page.add_init_script(NO_CAMERA)
    _checked(call_page, "emulated")

    expect(_status(call_page)).to_contain_text(
        "no camera was found; you join with your microphone only"
    )
    expect(call_page.get_by_text("No camera", exact=True)).to_be_visible()
    expect(call_page.get_by_role("button", name="Turn camera on")).to_be_disabled()
    call_page.wait_for_function("() => document.querySelector('[data-call-level]').value > 0")
    expect(_error(call_page)).to_be_hidden()


def test_without_any_device_it_says_so_and_still_offers_to_join(call_page):
    call_page.add_init_script(NO_DEVICES)
    _checked(call_page, "emulated")

    expect(_error(call_page)).to_have_text(
        "No camera or microphone was found. You can still join, to watch and listen."
    )
    expect(call_page.get_by_role("button", name="Mute microphone")).to_be_disabled()
    call_page.get_by_role("button", name="Join the call").click()
    expect(call_page.locator("[data-call-notice]")).to_have_text(EMULATOR_NOTICE)


def test_a_real_join_loads_the_bundle_once_and_shows_the_sdks_error(call_page):
    _checked(call_page, "real")

    call_page.get_by_role("button", name="Join the call").click()

    # The real SDK refuses a token that is not a JWT, and the panel says so instead of hanging.
    expect(_error(call_page)).to_contain_text("Could not join the call: Invalid token")
    expect(_status(call_page)).to_have_text("Not joined.")
    screenshot(call_page, "join-call-sdk-error")
    assert len(_bundle_requests(call_page)) == 1
    versions = call_page.evaluate("() => window.AcsCalling.versions")
    assert versions["@azure/communication-calling"] == _pinned()["@azure/communication-calling"]
    # The preview is still there to try again.
    expect(call_page.get_by_role("button", name="Join the call")).to_be_enabled()
    expect(call_page.get_by_label("Your camera")).to_be_visible()


def test_in_the_call_it_shows_the_state_the_role_and_others_and_can_mute_and_leave(call_page):
    _with_fake_sdk(call_page)
    _checked(call_page, "real")

    call_page.get_by_role("button", name="Join the call").click()

    expect(_status(call_page)).to_have_text("Connected")
    expect(call_page.locator("[data-call-role]")).to_have_text("Presenter")
    others = call_page.get_by_role("list", name="Others in the call")
    expect(others.get_by_text("Grace Hopper")).to_be_visible()
    expect(call_page.locator("[data-call-local-view] .fake-view")).to_have_count(1)
    call_page.get_by_role("button", name="Mute microphone").click()
    expect(call_page.get_by_role("button", name="Unmute microphone")).to_be_visible()
    call_page.get_by_role("button", name="Turn camera off").click()
    expect(call_page.get_by_role("button", name="Turn camera on")).to_be_visible()
    screenshot(call_page, "join-call-in-call")
    call_page.get_by_role("button", name="Leave the call").click()

    expect(_status(call_page)).to_have_text("Disconnected: you left the call (code 0).")
    expect(call_page.get_by_role("button", name="Join again")).to_be_enabled()
    log = call_page.evaluate("() => window.sdkLog")
    assert log[:4] == [
        "agent:not-a-jwt:Ada Lovelace",
        "microphone:mic",
        "join:99000000000000002",
        "video:1",
    ]
    assert log[4:] == ["mute", "stopVideo", "hangUp", "dispose"]
    assert call_page.console_errors == []


def test_joining_with_the_camera_and_microphone_off_starts_the_call_so(call_page):
    _with_fake_sdk(call_page)
    _checked(call_page, "real")
    call_page.get_by_role("button", name="Turn camera off").click()
    call_page.get_by_role("button", name="Mute microphone").click()

    call_page.get_by_role("button", name="Join the call").click()

    expect(_status(call_page)).to_have_text("Connected")
    expect(call_page.get_by_role("button", name="Unmute microphone")).to_be_visible()
    expect(call_page.get_by_role("button", name="Turn camera on")).to_be_visible()
    assert "video:0" in call_page.evaluate("() => window.sdkLog")


def test_a_join_that_never_connects_says_so_and_hangs_up(call_page):
    _with_fake_sdk(call_page, never_connect=True)
    _checked(call_page, "real")
    call_page.evaluate(
        "() => { document.querySelector('[data-call-panel]').dataset.connectSeconds = '1'; }"
    )

    call_page.get_by_role("button", name="Join the call").click()

    expect(_error(call_page)).to_have_text(
        "The call did not connect within 1 seconds. Check your network, then join again."
    )
    expect(call_page.get_by_role("button", name="Join again")).to_be_enabled()
    assert "hangUp" in call_page.evaluate("() => window.sdkLog")


def test_on_a_phone_the_panel_fits_the_screen(phone_page):
    _checked(phone_page, "emulated")

    assert phone_page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    join = phone_page.get_by_role("button", name="Join the call").bounding_box()
    assert join is not None and join["width"] > 300
    screenshot(phone_page, "join-call-phone")


# ---- the committed bundle (no browser) ----


def _pinned() -> dict[str, str]:
    return json.loads((ROOT / "frontend" / "package.json").read_text())["dependencies"]


def test_the_packages_are_pinned_exactly_in_package_json_and_the_lock():
    package = json.loads((ROOT / "frontend" / "package.json").read_text())
    lock = json.loads((ROOT / "frontend" / "package-lock.json").read_text())
    pins = {**package["dependencies"], **package["devDependencies"]}
    for name, version in pins.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_the_committed_bundle_names_the_pinned_versions_and_has_its_licences_beside_it():
    bundle = VENDOR / "acs-calling.min.js"
    banner = bundle.read_text()[:1000].splitlines()[0]
    for name, version in _pinned().items():
        assert f"{name} {version}" in banner
    assert (VENDOR / "LICENSE").read_text().startswith("MICROSOFT SOFTWARE LICENSE TERMS")
    assert (VENDOR / "NOTICES.txt").stat().st_size > 0
    notices = (VENDOR / "THIRD-PARTY-NOTICES").read_text()
    assert "@azure/communication-common " + _pinned()["@azure/communication-common"] in notices
    # The API join-call.js reads.
    assert "window.AcsCalling=Object.freeze(" in bundle.read_text()
