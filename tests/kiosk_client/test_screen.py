"""The screen: a real CJK font, Chinese that renders (not tofu), and the welcome screenshot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFont

from checkin.protocol import Person
from kiosk_client.errors import FontMissing
from kiosk_client.messages import IDLE, Tone, checkin_message
from kiosk_client.presence import downscale
from kiosk_client.screen import (
    FaceMark,
    FontChoice,
    ScreenRenderer,
    ScreenView,
    find_cjk_font,
    glyph_bitmap,
    has_cjk_glyphs,
    save_png,
)

OUT = Path(__file__).resolve().parents[2] / "test-output"
LATIN_ONLY = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.fixture(scope="module")
def font() -> FontChoice:
    try:
        return find_cjk_font()
    except FontMissing as exc:
        pytest.skip(str(exc))


def test_found_font_has_chinese_glyphs(font):
    assert has_cjk_glyphs(font)
    pil = ImageFont.truetype(str(font.path), 48, index=font.index)
    blank = glyph_bitmap(pil, " ")
    assert glyph_bitmap(pil, "张") != blank and glyph_bitmap(pil, "张") != glyph_bitmap(pil, "三")


@pytest.mark.skipif(not LATIN_ONLY.exists(), reason="DejaVuSans not installed")
def test_latin_font_is_recognised_as_tofu():
    # Without CJK glyphs every Chinese character is the same missing-glyph box.
    assert not has_cjk_glyphs(FontChoice(LATIN_ONLY, 0))


def test_missing_font_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("BAODAO_KIOSK_FONT", str(tmp_path / "nope.ttc"))
    with pytest.raises(FontMissing, match="字体文件不存在"):
        find_cjk_font()


def text_band(rgb: np.ndarray) -> np.ndarray:
    """The bottom message band of a rendered screen."""
    return rgb[-190:, :, :]


def panel(rgb: np.ndarray) -> np.ndarray:
    """The welcome panel drawn over the picture for a check-in."""
    return rgb[104:334, 60:-60, :]


def test_welcome_screenshot(font, faces_dir):
    frame = downscale(cv2.imread(str(faces_dir / "fixtures" / "single" / "obama.jpg")), 640)
    zhang = Person(id=7, number="D007", name="张三", role="deputy")
    msg = checkin_message(zhang, datetime(2026, 3, 1, 8, 52))
    assert msg.title == "张三 代表，报到成功 08:52"
    renderer = ScreenRenderer(font)
    h, w = frame.shape[:2]
    view = ScreenView(
        meeting="第十七届人民代表大会第三次会议",
        online=True,
        message=msg,
        marks=(FaceMark((h // 5, 3 * w // 4, 4 * h // 5, w // 4), Tone.OK, "张三"),),
        clock="08:52",
    )
    rgb = renderer.render(frame, view)
    assert rgb.shape == (720, 1280, 3)
    OUT.mkdir(exist_ok=True)
    path = OUT / "kiosk_welcome.png"
    save_png(rgb, path)
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), rgb)
    # The band is the check-in green, with white text drawn on it.
    band = text_band(rgb)
    assert tuple(band[5, 5]) == (22, 140, 60)
    assert (band.min(axis=2) > 240).sum() > 2000
    # The name is on the panel only: different names give different panel pixels (real
    # glyphs, not identical tofu boxes) and the same band (the greeting, not the name again).
    li = Person(id=8, number="D008", name="李四", role="deputy")
    other = renderer.render(
        frame, ScreenView(message=checkin_message(li, datetime(2026, 3, 1, 8, 52)))
    )
    same = renderer.render(frame, ScreenView(message=msg))
    assert not np.array_equal(panel(other), panel(same))
    assert np.array_equal(text_band(other), text_band(same))
    delayed = checkin_message(li, datetime(2026, 3, 1, 8, 52), delayed=True)
    assert not np.array_equal(
        text_band(renderer.render(frame, ScreenView(message=delayed))), text_band(other)
    )


def test_idle_and_offline_screen(font):
    rgb = ScreenRenderer(font).render(None, ScreenView(online=False, queued=12, message=IDLE))
    OUT.mkdir(exist_ok=True)
    save_png(rgb, OUT / "kiosk_offline.png")
    assert rgb.shape == (720, 1280, 3)
