"""The kiosk screen: camera picture, face boxes, big Chinese messages (Pillow + Noto CJK)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kiosk_client.errors import DisplayError, FontMissing
from kiosk_client.messages import Message, Tone
from kiosk_client.presence import Box

logger = logging.getLogger(__name__)

FONT_ENV = "BAODAO_KIOSK_FONT"
# Debian's fonts-noto-cjk; the .ttc collections hold JP, KR, SC, TC, HK at index 0..4.
KNOWN_FONTS = [
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"), 2),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"), 2),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
]
FONT_HELP = (
    "找不到中文字体（Noto Sans CJK）：请安装 apt-get install fonts-noto-cjk，"
    f"或用环境变量 {FONT_ENV}=字体文件路径 指定"
)

TONE_RGB = {
    Tone.OK: (22, 140, 60),
    Tone.INFO: (25, 90, 170),
    Tone.WARN: (200, 130, 0),
    Tone.STOP: (190, 30, 30),
}


@dataclass(frozen=True)
class FontChoice:
    path: Path
    index: int


def _fc_list_fonts() -> list[FontChoice]:
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(
            ["fc-list", "-f", "%{file}|%{index}|%{family}|%{style}\n", ":lang=zh"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    ranked: list[tuple[int, FontChoice]] = []
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) < 4 or not parts[1].isdigit():
            continue
        family, style = parts[2], parts[3]
        rank = (
            ("CJK SC" in family) * 8
            + ("Sans" in family) * 4
            + ("Mono" not in family) * 2
            + ("Bold" in style) * 1
        )
        ranked.append((rank, FontChoice(Path(parts[0]), int(parts[1]))))
    return [c for _, c in sorted(ranked, key=lambda rc: -rc[0])]


def find_cjk_font() -> FontChoice:
    """A font with Chinese glyphs: $BAODAO_KIOSK_FONT, else fc-list, else known paths."""
    env = os.environ.get(FONT_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise FontMissing(f"{FONT_ENV} 指向的字体文件不存在：{env}")
        return FontChoice(path, 2 if path.suffix.lower() == ".ttc" and "CJK" in path.name else 0)
    for choice in _fc_list_fonts() + [FontChoice(p, i) for p, i in KNOWN_FONTS]:
        if choice.path.is_file() and has_cjk_glyphs(choice):
            return choice
    raise FontMissing(FONT_HELP)


def has_cjk_glyphs(choice: FontChoice) -> bool:
    """True when two Chinese characters draw differently (not both the missing-glyph box)."""
    try:
        font = ImageFont.truetype(str(choice.path), 48, index=choice.index)
    except OSError:
        return False
    return glyph_bitmap(font, "报") != glyph_bitmap(font, "到")


def glyph_bitmap(font: Any, text: str) -> bytes:
    """The text drawn black on white at 64×64: used to tell real glyphs from tofu."""
    img = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(img).text((4, 0), text, font=font, fill=0)
    return img.tobytes()


@dataclass(frozen=True)
class FaceMark:
    """A box to draw on the picture, with its colour tone and a short label."""

    box: Box
    tone: Tone
    label: str = ""


@dataclass(frozen=True)
class ScreenView:
    """Everything the screen shows at one moment (built by the app, drawn by the renderer)."""

    meeting: str = ""
    online: bool = False
    status: str = ""
    queued: int = 0
    marks: tuple[FaceMark, ...] = ()
    message: Message | None = None
    clock: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class ScreenRenderer:
    """Draws a `ScreenView` over a camera frame into a fixed-size screen image."""

    def __init__(self, font: FontChoice, *, size: tuple[int, int] = (1280, 720)) -> None:
        self.size = size
        self._font = font
        self._cache: dict[int, Any] = {}

    def font(self, px: int) -> Any:
        """The CJK font at a pixel size (cached)."""
        if px not in self._cache:
            self._cache[px] = ImageFont.truetype(str(self._font.path), px, index=self._font.index)
        return self._cache[px]

    def render(self, frame_bgr: np.ndarray | None, view: ScreenView) -> np.ndarray:
        """The whole screen as an RGB array."""
        w, h = self.size
        bar, band = 64, 190
        canvas = Image.new("RGB", (w, h), (18, 22, 30))
        draw = ImageDraw.Draw(canvas)
        # Camera picture, fitted into the area between the status bar and the message band.
        area_h = h - bar - band
        if frame_bgr is not None and frame_bgr.size:
            fh, fw = frame_bgr.shape[:2]
            scale = min(w / fw, area_h / fh)
            pw, ph = max(1, int(fw * scale)), max(1, int(fh * scale))
            pic = Image.fromarray(np.ascontiguousarray(frame_bgr[:, :, ::-1])).resize((pw, ph))
            ox, oy = (w - pw) // 2, bar + (area_h - ph) // 2
            canvas.paste(pic, (ox, oy))
            for mark in view.marks:
                t, r, b, le = mark.box
                rect = (ox + le * scale, oy + t * scale, ox + r * scale, oy + b * scale)
                draw.rectangle(rect, outline=TONE_RGB[mark.tone], width=5)
                if mark.label:
                    draw.text(
                        (rect[0], rect[1] - 40),
                        mark.label,
                        font=self.font(32),
                        fill=TONE_RGB[mark.tone],
                    )
        # Status bar: meeting, connection, queue, clock.
        draw.rectangle((0, 0, w, bar), fill=(35, 40, 52))
        draw.text((20, 12), view.meeting or "会议报到", font=self.font(34), fill=(255, 255, 255))
        state = view.status or ("已连接" if view.online else "网络中断，离线保存中")
        if view.queued:
            state += f" · 待上传 {view.queued} 条"
        dot = (40, 200, 90) if view.online else (230, 70, 50)
        clock_w = int(self.font(34).getlength(view.clock)) + 40 if view.clock else 0
        sx = w - 20 - int(self.font(28).getlength(state)) - clock_w
        draw.ellipse((sx - 34, 22, sx - 14, 42), fill=dot)
        draw.text((sx, 15), state, font=self.font(28), fill=(235, 235, 235))
        if view.clock:
            draw.text(
                (w - 20 - clock_w + 40, 12), view.clock, font=self.font(34), fill=(255, 255, 255)
            )
        # Message band; a check-in puts who and when on a big panel over the picture, readable
        # from a few metres, and only the greeting (or the delayed-upload note) in the band.
        msg = view.message
        tone_rgb = TONE_RGB[msg.tone] if msg else (35, 40, 52)
        draw.rectangle((0, h - band, w, h), fill=tone_rgb)
        if msg is not None and msg.tone == Tone.OK:
            px, py = 60, bar + 40
            draw.rounded_rectangle(
                (px, py, w - px, py + 230),
                radius=24,
                fill=(255, 255, 255),
                outline=tone_rgb,
                width=8,
            )
            self._centered(draw, msg.title, py + 75, 84, w, fill=tone_rgb)
            self._centered(draw, msg.detail or "签到已记录", h - band + 60, 60, w)
        elif msg is not None:
            self._centered(draw, msg.title, h - band + 28, 76, w)
            if msg.detail:
                self._centered(draw, msg.detail, h - band + 128, 38, w)
        return np.asarray(canvas)

    def _centered(
        self,
        draw: ImageDraw.ImageDraw,
        text: str,
        y: int,
        px: int,
        w: int,
        fill: tuple[int, int, int] = (255, 255, 255),
    ) -> None:
        font = self.font(px)
        while px > 24 and font.getlength(text) > w - 60:  # shrink long names to fit
            px -= 6
            font = self.font(px)
        x = (w - font.getlength(text)) / 2
        draw.text((x, y), text, font=font, fill=fill)


def save_png(rgb: np.ndarray, path: Path) -> None:
    """Write the screen image atomically (tmp + rename), so viewers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(rgb).save(tmp, format="PNG")
    os.replace(tmp, path)


class Display(Protocol):
    """Shows screen images; `show` returns False once the window was closed."""

    def show(self, rgb: np.ndarray) -> bool: ...

    def size(self) -> tuple[int, int] | None:
        """The window's size in pixels (None: not known yet; the renderer keeps its own)."""

    def close(self) -> None: ...


class TkDisplay:
    """A full-screen Tk window (opencv-python-headless has no GUI); Esc closes it."""

    def __init__(self, *, fullscreen: bool = True, title: str = "报到") -> None:
        import tkinter

        from PIL import ImageTk

        self._imagetk = ImageTk
        try:
            self._root = tkinter.Tk()
        except tkinter.TclError as exc:
            raise DisplayError(
                f"无法打开屏幕窗口（{exc}）：请在图形桌面下运行，或使用 --headless"
            ) from exc
        self._root.title(title)
        self._root.configure(background="black")
        if fullscreen:
            self._root.attributes("-fullscreen", True)
        self._root.bind("<Escape>", lambda _e: self._close_now())
        self._root.protocol("WM_DELETE_WINDOW", self._close_now)
        self._label = tkinter.Label(self._root, background="black")
        self._label.pack(fill="both", expand=True)
        self._photo: Any = None
        self._open = True

    def _close_now(self) -> None:
        self._open = False

    def size(self) -> tuple[int, int] | None:
        """The window's size as the window manager gave it (full screen: the screen's)."""
        sw, sh = self._root.winfo_width(), self._root.winfo_height()
        return (sw, sh) if sw > 50 and sh > 50 else None

    def show(self, rgb: np.ndarray) -> bool:
        """Put the image in the window and process window events."""
        if not self._open:
            return False
        img = Image.fromarray(rgb)
        sw, sh = self._root.winfo_width(), self._root.winfo_height()
        if sw > 50 and sh > 50 and (sw, sh) != img.size:
            scale = min(sw / img.width, sh / img.height)
            img = img.resize((int(img.width * scale), int(img.height * scale)))
        self._photo = self._imagetk.PhotoImage(img)
        self._label.configure(image=self._photo)
        self._root.update()
        return self._open

    def close(self) -> None:
        try:
            self._root.destroy()
        except Exception:  # already destroyed by the window manager
            logger.debug("window close failed", exc_info=True)
