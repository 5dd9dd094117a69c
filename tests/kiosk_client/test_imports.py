"""The kiosk imports nothing of the server but the protocol module."""

from __future__ import annotations

import ast
from pathlib import Path

KIOSK = Path(__file__).resolve().parents[2] / "kiosk_client"
SERVER_PACKAGES = {"checkin", "models", "enrollment"}
ALLOWED = {"checkin.protocol"}


def server_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names = ["<relative import>"]  # kiosk modules use absolute imports only
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module in SERVER_PACKAGES:  # `from checkin import x` imports checkin.x
                names = [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            top = name.split(".")[0]
            if (top in SERVER_PACKAGES or top.startswith("<")) and name not in ALLOWED:
                found.append(name)
    return found


def test_kiosk_imports_only_the_protocol():
    files = sorted(KIOSK.glob("*.py"))
    assert len(files) >= 8
    bad = {str(p.name): server_imports(p) for p in files if server_imports(p)}
    assert bad == {}


def test_the_rule_catches_violations(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text(
        "import checkin.settings\nfrom models import base\nfrom checkin import protocol\n"
        "from checkin.protocol import Hello\nimport numpy\n"
    )
    assert server_imports(sample) == ["checkin.settings", "models.base"]
