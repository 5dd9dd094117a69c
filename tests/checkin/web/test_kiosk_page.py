"""The browser kiosk's server side: the page and its assets, the kiosk's meeting list, the
exit PIN setting, and `baodao serve` over HTTPS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from checkin.settings import Settings
from checkin.web.api.kiosk import exit_pin_digest
from checkin.web.app import create_app
from tests.conftest import login
from tests.server import BAODAO, Server, baodao, baodao_env

KIOSK_ASSETS = Path(__file__).resolve().parents[3] / "checkin" / "web" / "static" / "kiosk"


def _setup(client: TestClient) -> tuple[str, dict[str, int]]:
    """Two bodies with meetings; a kiosk of the first; returns its token and meeting ids."""
    admin = login(client, "admin")
    home = client.post("/api/bodies", json={"name": "甲镇人大"}, headers=admin).json()["id"]
    other = client.post("/api/bodies", json={"name": "乙镇人大"}, headers=admin).json()["id"]
    ids = {}
    for name, body, day in (("draft", home, 1), ("open", home, 2), ("closed", home, 3),
                            ("foreign", other, 4)):  # fmt: skip
        r = client.post(
            "/api/meetings",
            json={"body_id": body, "title": name, "starts_at": f"2026-12-0{day}T09:00:00+08:00"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    for name in ("open", "closed"):
        assert client.post(f"/api/meetings/{ids[name]}/open", headers=admin).status_code == 200
    assert client.post(f"/api/meetings/{ids['closed']}/close", headers=admin).status_code == 200
    r = client.post("/api/kiosks", json={"name": "东门", "body_id": home}, headers=admin)
    return r.json()["token"], ids


def test_the_kiosk_lists_its_bodys_meetings_that_are_not_closed(app_client: TestClient) -> None:
    token, ids = _setup(app_client)
    r = app_client.get("/api/kiosk/meetings", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["kiosk"] == "东门" and data["body"] == "甲镇人大"
    assert [(m["id"], m["state"], m["window_open"]) for m in data["meetings"]] == [
        (ids["open"], "open", True),
        (ids["draft"], "draft", False),
    ]
    assert data["exit"] == "token" and data["exit_pin_sha256"] is None


def test_the_kiosk_list_wants_a_kiosk_token_as_bearer(app_client: TestClient) -> None:
    token, _ = _setup(app_client)
    for headers in (
        {},
        {"Authorization": "Bearer bk_not-a-token"},
        login(app_client, "admin"),  # a staff session is not a kiosk
    ):
        r = app_client.get("/api/kiosk/meetings", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = app_client.get(f"/api/kiosk/meetings?token={token}")  # never in the URL
    assert r.status_code == 401
    admin = login(app_client, "admin")
    assert app_client.delete("/api/kiosks/东门", headers=admin).status_code in (200, 204)
    r = app_client.get("/api/kiosk/meetings", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401  # revoked


def test_an_exit_pin_reaches_the_page_only_as_a_digest(
    settings: Settings, sqlite_engine: Any
) -> None:
    from checkin.accounts.service import create_user
    from models import Role
    from models.db import make_session_factory, session_scope
    from tests.conftest import PASSWORD

    with session_scope(make_session_factory(sqlite_engine)) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
    pinned = settings.model_copy(update={"kiosk_exit_pin": SecretStr("24680")})
    with TestClient(create_app(pinned, engine=sqlite_engine)) as client:
        token, _ = _setup(client)
        r = client.get("/api/kiosk/meetings", headers={"Authorization": f"Bearer {token}"})
    data = r.json()
    assert data["exit"] == "pin" and data["exit_pin_sha256"] == exit_pin_digest("24680")
    assert "24680" not in r.text


@pytest.mark.parametrize("pin", ["123", "12ab", "1234567890123"])
def test_an_exit_pin_is_4_to_12_digits(pin: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, kiosk_exit_pin=pin, _env_file=None)  # type: ignore[call-arg, arg-type]


def test_the_page_and_its_worker_are_served_without_login(app_client: TestClient) -> None:
    r = app_client.get("/kiosk")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "报到机配对" in r.text and 'type="module"' in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "ws://testserver" in csp
    sw = app_client.get("/kiosk-sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    for name in ("main.js", "protocol.js", "messages.js", "presence.js", "store.js", "kiosk.css"):
        assert app_client.get(f"/static/kiosk/{name}").status_code == 200, name
        assert f"/static/kiosk/{name}" in sw.text  # cached for a reload during an outage


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for path in KIOSK_ASSETS.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://</b>", "") and "https://" not in text.replace(
            '"https://" + location.host', ""
        ).replace("<b>https://</b>", ""), path.name


# ---- HTTPS ------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A test-time certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "baodao test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def trusting(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts `cert` (and nothing else)."""
    return ssl.create_default_context(cafile=str(cert))


class TlsServer(Server):
    """`baodao serve --ssl-certfile --ssl-keyfile` on a free port."""

    def __init__(self, env: dict[str, str], cert: Path, key: Path) -> None:
        super().__init__(env)
        self.cert, self.key = cert, key
        self.url = f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> TlsServer:
        import time

        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [BAODAO, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--ssl-certfile", str(self.cert), "--ssl-keyfile", str(self.key)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited {self.proc.returncode}: {self.log.read_text()}"
                    )
                try:
                    r = httpx.get(self.url + "/healthz", verify=trusting(self.cert), timeout=1)
                    if r.is_success:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            raise RuntimeError(f"server did not start: {self.log.read_text()}")
        except BaseException:
            self.stop(kill=True)  # never leave a server behind
            raise


@pytest.mark.slow
def test_serve_speaks_https_with_a_certificate_and_key(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = baodao_env(tmp_path / "var")
    baodao(["db", "upgrade"], env)
    with TlsServer(env, cert, key) as server:
        page = httpx.get(server.url + "/kiosk", verify=trusting(cert))
        assert page.status_code == 200 and "报到机配对" in page.text
        with pytest.raises(httpx.ConnectError):  # an unknown certificate is refused
            httpx.get(server.url + "/healthz")
        with pytest.raises(httpx.HTTPError):  # and plain HTTP is not served on that port
            httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        context = trusting(cert)
        from websockets.sync.client import connect

        with connect(f"wss://127.0.0.1:{server.port}/ws/kiosk", ssl=context) as ws:
            ws.send('{"type":"hello","token":"bk_nope","meeting_id":1}')
            with pytest.raises(Exception) as closed:
                ws.recv(timeout=10)
        assert "4401" in str(closed.value)


def test_serve_refuses_half_or_bad_tls_files_with_one_line(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = baodao_env(tmp_path / "var")
    other_key = tmp_path / "other"
    other_key.mkdir()
    _, wrong = self_signed(other_key)
    for args, said in (
        (["--ssl-certfile", str(cert)], "go together"),
        (["--ssl-certfile", str(cert), "--ssl-keyfile", str(tmp_path / "no.key")], "no such file"),
        (["--ssl-certfile", str(cert), "--ssl-keyfile", str(wrong)], "not a certificate and its"),
    ):
        r = subprocess.run(
            [BAODAO, "serve", "--port", "1", *args], env=env, capture_output=True, text=True
        )
        assert r.returncode == 2 and said in r.stderr and r.stderr.count("\n") == 1, r.stderr
