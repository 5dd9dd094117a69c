"""A real `baodao serve` answers huge bodies without credentials (and over the limit) before
the client has finished sending: nothing spooled to the temp folder, no memory kept."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from checkin.bench.abuse import MB, Pushed, multipart_prefix, push_body, rss_mb
from tests.server import Server, baodao_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spooled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("refuse")
    spool = root / "tmp"
    spool.mkdir()
    with Server(baodao_env(root / "var", TMPDIR=str(spool))) as server:
        yield server, spool


def _push(server: Server, path: str, total: int, **kw: object) -> Pushed:
    return asyncio.run(push_body("127.0.0.1", server.port, path, total=total, **kw))  # type: ignore[arg-type]


def _open_in(pid: int, folder: Path) -> list[str]:
    fds = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return [t for t in targets if t.startswith(str(folder))]


def test_a_300_mb_upload_without_credentials_is_401_before_it_is_sent(
    spooled_server: tuple[Server, Path],
) -> None:
    server, spool = spooled_server
    assert server.proc is not None
    before, files = rss_mb(server.proc.pid), set(spool.iterdir())
    headers, prefix = multipart_prefix()
    pushed = _push(server, "/api/deputies/D001/photos", 300 * MB, headers=headers, prefix=prefix)
    assert pushed.status == 401, pushed
    assert b'"unauthorized"' in pushed.body
    assert pushed.sent_before_answer < 300 * MB // 10  # answered long before the end
    assert set(spool.iterdir()) == files and _open_in(server.proc.pid, spool) == []
    assert rss_mb(server.proc.pid) - before < 50


def test_a_400_mb_json_body_without_credentials_is_413_before_it_is_sent(
    spooled_server: tuple[Server, Path],
) -> None:
    server, spool = spooled_server
    assert server.proc is not None
    before, files = rss_mb(server.proc.pid), set(spool.iterdir())
    pushed = _push(server, "/api/meetings", 400 * MB, headers={"Content-Type": "application/json"})
    assert pushed.status == 413 and b'"payload_too_large"' in pushed.body
    assert pushed.sent_before_answer < 400 * MB // 10
    assert rss_mb(server.proc.pid) - before < 50
    assert set(spool.iterdir()) == files


def _admin(server: Server) -> dict[str, str]:
    """Bearer headers of the first admin, after the forced password change."""
    first = (Path(server.env["BAODAO_DATA_DIR"]) / "admin-initial-password.txt").read_text()
    headers = server.login("admin", first.strip())
    r = httpx.post(
        server.url + "/api/auth/password",
        json={"old_password": first.strip(), "new_password": "admin-password-2026"},
        headers=headers,
    )
    if r.status_code == 422:  # changed by an earlier test of this module
        return server.login("admin", "admin-password-2026")
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_chunked_json_body_with_credentials_is_cut_off_at_the_limit(
    spooled_server: tuple[Server, Path],
) -> None:
    server, spool = spooled_server
    assert server.proc is not None
    headers = {"Content-Type": "application/json"} | _admin(server)
    before, files = rss_mb(server.proc.pid), set(spool.iterdir())
    pushed = _push(server, "/api/meetings", 400 * MB, headers=headers, chunked=True)
    assert pushed.status == 413 and b'"payload_too_large"' in pushed.body
    assert pushed.sent_before_answer < 400 * MB // 10  # max_json_bytes is 1 MB
    assert rss_mb(server.proc.pid) - before < 50
    assert set(spool.iterdir()) == files
