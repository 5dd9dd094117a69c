"""`baodao kiosk run`: the kiosk program (registered in the `kiosk` group by checkin/cli.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from kiosk_client.errors import EXIT_CONFIG, KioskError


def default_queue_dir(meeting_id: int) -> Path:
    """Where the offline queue of a meeting lives: $XDG_DATA_HOME/baodao-kiosk/meeting-<id>."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "baodao-kiosk" / f"meeting-{meeting_id}"


def _fail(exc: KioskError, headless: bool) -> typer.Exit:
    if headless:
        line = {
            "event": "fatal",
            "at": datetime.now().astimezone().isoformat(),
            "code": exc.code,
            "message": exc.message,
        }
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    typer.echo(f"baodao kiosk: {exc.message}", err=True)
    return typer.Exit(exc.exit_code)


def run(
    server: Annotated[
        list[str],
        typer.Option(
            envvar="BAODAO_KIOSK_SERVER",
            help="服务器地址，如 http://10.0.0.5:8000；多台服务器可重复 --server 或用逗号分隔，"
            "断线时 5 秒内切换到下一台",
        ),
    ],
    token: Annotated[
        str, typer.Option(envvar="BAODAO_KIOSK_TOKEN", help="报到机令牌（kiosk register 给出）")
    ],
    meeting: Annotated[int, typer.Option(envvar="BAODAO_KIOSK_MEETING", help="会议编号")],
    source: Annotated[str, typer.Option(help="摄像头编号（0）、视频文件或图片文件夹")] = "0",
    headless: Annotated[bool, typer.Option(help="不显示画面，每个事件输出一行 JSON")] = False,
    fps: Annotated[float, typer.Option(min=0.5, max=30.0, help="每秒采集帧数")] = 5.0,
    width: Annotated[int, typer.Option(min=160, max=1920, help="发送前缩放到的宽度（像素）")] = 640,
    queue_dir: Annotated[
        Path | None,
        typer.Option(help="离线队列文件夹（默认 ~/.local/share/baodao-kiosk/meeting-<会议编号>）"),
    ] = None,
    queue_max: Annotated[int, typer.Option(min=1, max=100_000, help="离线队列最多保存帧数")] = 2000,
    buffer_rate: Annotated[
        float, typer.Option(min=0.1, max=30.0, help="离线时每秒保存的最佳人脸帧数")
    ] = 2.0,
    realtime: Annotated[
        bool,
        typer.Option(
            help="视频文件按原速播放（像摄像头一样）；"
            "--no-realtime 逐帧：每帧等服务器答复后再读下一帧"
        ),
    ] = True,
    retry_max: Annotated[
        float, typer.Option(min=0.5, max=600.0, help="断线重连的最长等待（秒）")
    ] = 30.0,
    screen_out: Annotated[Path | None, typer.Option(help="把屏幕画面定期保存为 PNG 文件")] = None,
    fullscreen: Annotated[bool, typer.Option(help="全屏显示窗口")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="输出调试日志")] = False,
) -> None:
    """运行报到机：采集画面、识别、报到；断网时离线保存，恢复后自动上传。"""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from kiosk_client.app import KioskApp, KioskConfig, json_line_sink, log_sink
    from kiosk_client.presence import HogDetector
    from kiosk_client.queue import DiskQueue
    from kiosk_client.screen import ScreenRenderer, TkDisplay, find_cjk_font
    from kiosk_client.sources import open_source
    from kiosk_client.transport import WebSocketTransport

    src = None
    try:
        transport = WebSocketTransport(
            server, token=token, meeting_id=meeting, client=f"baodao-kiosk@{socket.gethostname()}"
        )
        renderer = None
        if not headless or screen_out is not None:
            renderer = ScreenRenderer(find_cjk_font())
        src = open_source(source, realtime=realtime)
        display = None if headless else TkDisplay(fullscreen=fullscreen)
        queue = DiskQueue(queue_dir or default_queue_dir(meeting), max_items=queue_max)
        app = KioskApp(
            source=src,
            transport=transport,
            queue=queue,
            detector=HogDetector(),
            config=KioskConfig(
                fps=fps, width=width, buffer_rate=buffer_rate, backoff_cap=retry_max
            ),
            sink=json_line_sink() if headless else log_sink,
            renderer=renderer,
            display=display,
            screen_out=screen_out,
            meeting_id=meeting,
            describe=source,
        )

        async def main() -> int:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, app.stop)
            return await app.start()

        code = asyncio.run(main())
    except KioskError as exc:
        if src is not None:
            src.close()
        raise _fail(exc, headless) from None
    except OSError as exc:  # e.g. the queue folder cannot be created
        raise _fail(KioskError(f"无法使用离线队列文件夹：{exc}"), headless) from None
    if code:
        raise typer.Exit(code)


__all__ = ["run", "EXIT_CONFIG"]
