"""The browser kiosk (/kiosk) in Debian's Chromium with a fake camera playing the Hamilton
clip (made into a Y4M file at test time), against a real `baodao serve`: pair, pick the
meeting, the deputy is checked in and the big screen shows it; and the same through a
10-second server outage, with a reload of the page while the server is down.

Set up only through the CLI, as an operator would (like tests/kiosk_client/test_e2e_real_server).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from checkin.accounts.service import create_user
from models import Attendance, Role
from models.db import make_engine, make_session_factory, session_scope
from tests.checkin.web.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, login_page
from tests.server import Server, baodao, baodao_env, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[4] / "docs" / "screenshots"
LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}
INTRANET_NAME = "baodao.intranet.test"  # resolved to 127.0.0.1 by this test's Chromium
# A serve that must come back mid-test: on a machine shared with other jobs its start (imports,
# face model) took over 60 s once.
SERVER_START_S = 180


@contextmanager
def serving(env: dict[str, str]) -> Iterator[Server]:
    server = Server(env).start(SERVER_START_S)
    try:
        yield server
    finally:
        server.stop()


def write_y4m(clip: Path, out: Path, *, every: int = 2) -> Path:
    """The clip as a Y4M file for Chromium's fake camera (every 2nd frame at half the rate:
    the same 9.2 s, half the bytes); Chromium plays it in a loop."""
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    rate = round(fps * 1000 / every)
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{rate}:1000 Ip A1:1 C420jpeg\n".encode())
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
            i += 1
    cap.release()
    return out


@pytest.fixture(scope="module")
def camera_browser(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose camera plays the Hamilton clip (permission granted without a prompt)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("/usr/bin/chromium is missing")
    from playwright.sync_api import sync_playwright

    video = write_y4m(
        faces_dir / "fixtures/video/short_hamilton_clip.mp4",
        tmp_path_factory.mktemp("camera") / "hamilton.y4m",
    )
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--autoplay-policy=no-user-gesture-required",
        f"--host-resolver-rules=MAP {INTRANET_NAME} 127.0.0.1",
    ]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield b
        b.close()


class Hall:
    """A congress with the deputy 林曼努尔 (D001) enrolled, an open meeting, a kiosk token
    and a staff account `clerk`, all made through the CLI."""

    def __init__(self, tmp_path: Path, faces_dir: Path, *, on_roster: bool = True) -> None:
        # Liveness off: these tests are about the page (pairing, frames, the outage); the
        # liveness check has its own end-to-end tests (tests/kiosk_client/test_e2e_liveness.py)
        # and the page's prompts are checked in test_kiosk_modules.py.
        self.env = baodao_env(tmp_path / "var") | {"BAODAO_LIVENESS": "off"}
        photo = faces_dir / "fixtures" / "single" / "lin-manuel-miranda.png"
        baodao(
            ["enroll", "add", "D001", str(photo), "--name", "林曼努尔", "--workers", "1"], self.env
        )
        baodao(["body", "create", "测试镇人大"], self.env)
        starts = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
        out = baodao(
            ["meeting", "create", "--body", "测试镇人大", "--title", "第三次全体会议",
             "--starts-at", starts, "--json"],
            self.env,
        )  # fmt: skip
        self.meeting = int(json.loads(out)["id"])
        if on_roster:
            self.add_to_roster()
        baodao(["meeting", "open", str(self.meeting)], self.env)
        self.token = baodao(["kiosk", "register", "东门平板", "--body", "测试镇人大"], self.env)
        self.token = self.token.split()[-1]
        assert self.token.startswith("bk_")
        engine = make_engine(self.env["BAODAO_DATABASE_URL"])
        with session_scope(make_session_factory(engine)) as s:
            create_user(s, username="clerk", password=PASSWORD, role=Role.SECRETARIAT)
        engine.dispose()

    def add_to_roster(self) -> None:
        baodao(
            ["meeting", "roster", "add", str(self.meeting), "D001", "--role", "deputy"], self.env
        )

    def rows(self) -> list[Attendance]:
        engine = make_engine(self.env["BAODAO_DATABASE_URL"])
        try:
            with make_session_factory(engine)() as s:
                return list(s.scalars(select(Attendance)))
        finally:
            engine.dispose()


# What Chromium itself logs while the server is down: expected, not the page's fault.
NETWORK_NOISE = ("WebSocket connection to", "Failed to load resource", "net::ERR_")


def watch(page: Any, problems: list[str]) -> Any:
    """Collect the page's script errors (a kiosk that fails silently fails the test)."""

    def console(m: Any) -> None:
        if m.type == "error" and not any(n in m.text for n in NETWORK_NOISE):
            problems.append(f"console.{m.type}: {m.text}")

    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", console)
    return page


def pick_meeting(page: Any, meeting: int) -> None:
    expect(page.locator("#view-meetings")).to_be_visible()
    expect(page.locator("#meeting-list button.meeting")).to_have_count(1)
    page.locator(f"#meeting-list button[data-meeting-id='{meeting}']").click()
    expect(page.locator("#view-live")).to_be_visible()


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def wait_for_box(page: Any, timeout_ms: int = 60_000) -> None:
    """Until the overlay shows at least one face box from a server result.

    (Locators, not wait_for_function: the page's CSP forbids the eval that would need.)"""
    expect(page.locator("#overlay")).to_have_attribute(
        "data-boxes", re.compile(r"^[1-9]"), timeout=timeout_ms
    )


def wait_until(probe: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait_for_named_box(page: Any) -> None:
    """For the screenshot: a box with the name the server gave it (shown for 1.5 s after its
    result) if one comes within 20 s, else any box."""
    try:
        expect(page.locator("#overlay")).to_have_attribute(
            "data-named", re.compile(r"^[1-9]"), timeout=20_000
        )
    except AssertionError:
        wait_for_box(page, 5_000)


def queued(page: Any, name: str = "data-count") -> int:
    return int(page.locator("#queued").get_attribute(name) or 0)


@pytest.mark.timeout(600)  # ≈ 110 s alone; the machine is shared
def test_a_tablet_pairs_picks_the_meeting_and_checks_the_deputy_in(
    camera_browser: Any, faces_dir: Path, tmp_path: Path, output_dir: Path
) -> None:
    hall = Hall(tmp_path, faces_dir)
    problems: list[str] = []
    with serving(hall.env) as server:
        context = camera_browser.new_context(viewport=LANDSCAPE)
        screen = watch(context.new_page(), problems)  # the big screen, in the same test
        login_page(screen, server.url, f"/meetings/{hall.meeting}/screen")
        expect(screen.locator("#present")).to_have_text("0")

        kiosk = watch(context.new_page(), problems)
        kiosk.goto(server.url + "/kiosk")
        expect(kiosk.locator("#view-pair")).to_be_visible()
        shoot(kiosk, "kiosk-pairing-1280x800.png")
        kiosk.set_viewport_size(PORTRAIT)
        shoot(kiosk, "kiosk-pairing-800x1280.png")
        kiosk.set_viewport_size(LANDSCAPE)
        kiosk.fill("#pair-token", "bk_wrong-token")
        kiosk.click("#pair-submit")
        expect(kiosk.locator("#pair-error")).to_contain_text("终端令牌无效")
        kiosk.fill("#pair-token", hall.token)
        kiosk.click("#pair-submit")
        expect(kiosk.locator("#kiosk-name")).to_contain_text("东门平板")
        assert hall.token not in kiosk.url
        pick_meeting(kiosk, hall.meeting)
        picked = time.monotonic()
        expect(kiosk.locator("#net")).to_have_attribute("data-state", "online", timeout=30_000)
        expect(kiosk.locator("#meeting-title")).to_have_text("第三次全体会议")

        wait_for_box(kiosk)  # the server's answers draw boxes over the camera

        expect(kiosk.locator("#msg-title")).to_contain_text(
            "林曼努尔 代表，报到成功", timeout=90_000
        )
        expect(kiosk.locator("#message")).to_have_attribute("data-tone", "ok")
        checked_in = time.monotonic() - picked
        shoot(kiosk, "kiosk-success-1280x800.png")
        kiosk.set_viewport_size(PORTRAIT)
        expect(kiosk.locator("#msg-title")).to_contain_text("报到成功")
        shoot(kiosk, "kiosk-success-800x1280.png")
        expect(kiosk.locator("body")).to_have_attribute("data-beeps", "1")  # one success sound

        expect(screen.locator("#present")).to_have_text("1", timeout=15_000)
        [row] = hall.rows()
        assert not row.delayed
        checkin = kiosk.locator("#checkins li")
        expect(checkin).to_have_count(1)
        assert checkin.get_attribute("data-checkin-id") == str(row.id)
        # the same face again: 已报到, no second row
        kiosk.set_viewport_size(LANDSCAPE)
        expect(kiosk.locator("#msg-title")).to_contain_text("已报到", timeout=60_000)
        wait_for_named_box(kiosk)
        shoot(kiosk, "kiosk-live-1280x800.png")
        kiosk.set_viewport_size(PORTRAIT)
        wait_for_named_box(kiosk)
        shoot(kiosk, "kiosk-live-800x1280.png")
        assert len(hall.rows()) == 1
        # newest frame only: one live frame in flight at a time, so the server never had a
        # stale one to drop
        body = kiosk.locator("body")
        live_results = int(body.get_attribute("data-live-results") or 0)
        assert live_results >= 10 and body.get_attribute("data-dropped") == "0"
        measured = {"pick_to_checkin_s": round(checked_in, 1), "live_results": live_results}
        (output_dir / "browser-kiosk.json").write_text(json.dumps(measured))

        # leaving needs the PIN; none is set (BAODAO_KIOSK_EXIT_PIN), so the kiosk's token
        kiosk.click("#exit")
        kiosk.fill("#exit-pin", "0000")
        kiosk.click("#exit-ok")
        expect(kiosk.locator("#exit-error")).to_have_text("密码不正确")
        expect(kiosk.locator("#view-live")).to_be_visible()
        kiosk.fill("#exit-pin", hall.token)
        kiosk.click("#exit-ok")
        expect(kiosk.locator("#view-meetings")).to_be_visible()
        expect(kiosk.locator("#net")).to_be_hidden()
        context.close()
    assert problems == []


def test_over_plain_http_the_page_says_why_there_is_no_camera(
    camera_browser: Any, tmp_path: Path
) -> None:
    env = baodao_env(tmp_path / "var")
    baodao(["db", "upgrade"], env)
    with Server(env) as server:
        page = camera_browser.new_page(viewport=LANDSCAPE)
        # a tablet on the intranet: http://<server address>/kiosk is not a secure context
        # (127.0.0.1 would be: browsers trust loopback)
        page.goto(f"http://{INTRANET_NAME}:{server.port}/kiosk#pair=bk_x")
        expect(page.locator("#view-insecure")).to_be_visible()
        expect(page.locator("#view-insecure h1")).to_have_text("无法使用摄像头：不是安全连接")
        expect(page.locator("#insecure-url")).to_have_text(
            f"https://{INTRANET_NAME}:{server.port}/kiosk"
        )
        assert page.evaluate("window.isSecureContext") is False
        page.close()


@pytest.mark.timeout(900)  # ≈ 190 s alone; the machine is shared
def test_a_ten_second_outage_is_buffered_and_uploaded_once_after_a_reload(
    camera_browser: Any, faces_dir: Path, tmp_path: Path, output_dir: Path
) -> None:
    # The deputy joins the roster only while the server is down: before the outage the face
    # is answered not_on_roster, so the one row can only come from the offline frames.
    hall = Hall(tmp_path, faces_dir, on_roster=False)
    problems: list[str] = []
    port = free_port()
    server = Server(hall.env, port=port).start(SERVER_START_S)
    try:
        context = camera_browser.new_context(viewport=LANDSCAPE)
        kiosk = watch(context.new_page(), problems)
        kiosk.goto(f"{server.url}/kiosk#pair={hall.token}")  # as the console's QR code opens it
        pick_meeting(kiosk, hall.meeting)
        assert "#pair" not in kiosk.url
        expect(kiosk.locator("#net")).to_have_attribute("data-state", "online", timeout=30_000)
        expect(kiosk.locator("#msg-title")).to_have_text("您不在本次会议名单中", timeout=60_000)
        kiosk.evaluate("navigator.serviceWorker.ready.then(() => true)")
        assert kiosk.evaluate("caches.has('baodao-kiosk-v1')")

        server.stop()  # mid-stream
        stopped = time.monotonic()
        hall.add_to_roster()
        expect(kiosk.locator("#offline-banner")).to_have_text("网络中断，已离线记录")
        expect(kiosk.locator("#offline-banner")).to_be_visible()
        expect(kiosk.locator("#queued")).to_have_attribute(
            "data-count", re.compile(r"^([3-9]|\d\d+)$"), timeout=10_000
        )
        kiosk.reload()  # the service worker serves the page while the server is down
        expect(kiosk.locator("#view-live")).to_be_visible()
        expect(kiosk.locator("#offline-banner")).to_be_visible(timeout=15_000)
        after_reload = queued(kiosk)
        assert after_reload >= 3  # IndexedDB kept them
        assert wait_until(lambda: queued(kiosk) > after_reload, 10)  # still buffering
        time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
        before = queued(kiosk)
        outage = time.monotonic() - stopped
        server = Server(hall.env, port=port).start(SERVER_START_S)
        restarted = time.monotonic()
        expect(kiosk.locator("#net")).to_have_attribute("data-state", "online", timeout=60_000)
        reconnected = time.monotonic() - restarted
        expect(kiosk.locator("#offline-banner")).to_be_hidden()
        expect(kiosk.locator("#checkins li")).to_have_count(1, timeout=90_000)
        expect(kiosk.locator("#checkins li")).to_have_attribute("data-delayed", "true")
        expect(kiosk.locator("#queued")).to_have_attribute("data-count", "0", timeout=60_000)
        uploaded = queued(kiosk, "data-uploaded")
        assert uploaded >= before
        measured = {
            "outage_s": round(outage, 1),
            "buffered_at_restart": before,
            "uploaded": uploaded,
            "restart_to_online_s": round(reconnected, 1),
            "restart_to_all_uploaded_s": round(time.monotonic() - restarted, 1),
        }
        (output_dir / "browser-kiosk-outage.json").write_text(json.dumps(measured))
        context.close()
    finally:
        server.stop()
    [row] = hall.rows()
    assert row.delayed
    assert row.evidence is not None and row.evidence["time"] == "capture"
    assert problems == []
