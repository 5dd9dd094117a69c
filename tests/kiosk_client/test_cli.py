"""Bad configuration: one clear line on stderr and exit code 2, from the real CLI process."""

from __future__ import annotations

import pytest
from kiosk_proc import KioskProcess

BASE = ["--server", "http://127.0.0.1:9", "--token", "t", "--meeting", "1", "--headless"]


def run_bad(*args: str, tmp_path) -> tuple[int, list[str], KioskProcess]:
    kiosk = KioskProcess(*BASE, "--queue-dir", str(tmp_path / "q"), *args)
    code, err = kiosk.wait(60)
    return code, [line for line in err.splitlines() if line.strip()], kiosk


def test_camera_index_that_does_not_exist(tmp_path):
    code, lines, kiosk = run_bad("--source", "99", tmp_path=tmp_path)
    assert code == 2
    assert lines == ["baodao kiosk: 摄像头 99 无法打开：没有这个摄像头，或正被其他程序占用"]
    assert [e["event"] for e in kiosk.events] == ["fatal"]


@pytest.mark.parametrize(("content", "words"), [(None, "不存在"), (b"junk", "无法读取视频文件")])
def test_unreadable_video_file(tmp_path, content, words):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    code, lines, _ = run_bad("--source", str(path), tmp_path=tmp_path)
    assert code == 2 and len(lines) == 1 and words in lines[0]


def test_bad_server_url(tmp_path):
    kiosk = KioskProcess(
        "--server",
        "ftp://nowhere",
        "--token",
        "t",
        "--meeting",
        "1",
        "--source",
        "99",
        "--queue-dir",
        str(tmp_path / "q"),
    )
    code, err = kiosk.wait(60)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "服务器地址无效" in err


def test_missing_font_in_screen_mode(tmp_path, faces_dir):
    kiosk = KioskProcess(
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--meeting",
        "1",
        "--source",
        str(faces_dir / "fixtures" / "single"),
        "--queue-dir",
        str(tmp_path / "q"),
        env={"BAODAO_KIOSK_FONT": str(tmp_path / "none.ttc")},
    )
    code, err = kiosk.wait(60)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "字体" in err
