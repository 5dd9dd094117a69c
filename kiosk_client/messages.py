"""What the screen says, in plain Chinese, for each server answer (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from checkin.protocol import FaceResult, FaceState, Person


class Tone(StrEnum):
    OK = "ok"  # green: checked in
    INFO = "info"  # blue: already checked in, please wait
    WARN = "warn"  # amber: move closer, hold still
    STOP = "stop"  # red: go to the service desk


@dataclass(frozen=True)
class Message:
    """One big message: a title line and an optional smaller detail line."""

    title: str
    detail: str = ""
    tone: Tone = Tone.INFO
    hold_s: float = 2.0  # how long it stays up after the last frame that asked for it
    decisive: bool = False  # an outcome (checked in, already): replaces whatever is shown


ROLE_TITLE = {"deputy": "代表", "nonvoting": "列席", "staff": "工作人员"}

IDLE = Message("请正对摄像头，稍候片刻", "Please face the camera", Tone.INFO, 0.0)
UPLOADING = Message("正在上传离线记录，请稍候", "", Tone.INFO, 0.0)

REJECT_PROMPTS = {
    "face_too_small": "请靠近一点",
    "too_blurry": "请稍停一下，不要晃动",
    "too_dark": "光线太暗，请靠近一点",
    "multiple_faces": "请一位一位来",
}

# The liveness action the server asks for (FaceResult.action), as the screen says it.
LIVENESS_PROMPTS = {"blink": "请眨眨眼", "turn_left": "请向左转头", "turn_right": "请向右转头"}


# A face the server has called `unknown` this long (seconds, one track) has really failed:
# before that the screen says 正在识别… (the next frames may still recognise it).
UNKNOWN_FAIL_S = 5.0
RECOGNISING = Message("正在识别…", "请看着摄像头", Tone.INFO, 1.0)


def hhmm(at: datetime, tz: tzinfo | None = None) -> str:
    """HH:MM in `tz` (the meeting's zone from the server's welcome), else the kiosk's own
    local zone; naive times are taken as local."""
    if at.tzinfo is None:
        return at.strftime("%H:%M")
    return at.astimezone(tz).strftime("%H:%M")


def who(person: Person) -> str:
    """「张三 代表」: the name and the role title."""
    return f"{person.name} {ROLE_TITLE.get(person.role, '代表')}"


def checkin_message(
    person: Person, at: datetime, *, delayed: bool = False, tz: tzinfo | None = None
) -> Message:
    """The big welcome: 「张三 代表，报到成功 08:52」."""
    detail = "网络恢复后补传，按到达时间登记" if delayed else "欢迎参加会议"
    return Message(f"{who(person)}，报到成功 {hhmm(at, tz)}", detail, Tone.OK, 4.0, True)


def face_message(
    face: FaceResult, *, failed: bool = False, tz: tzinfo | None = None
) -> Message | None:
    """The prompt for one face of a result, or None when there is nothing to say.

    `failed`: the face's track has been `unknown` for `UNKNOWN_FAIL_S` (only then does the
    screen send the person to the service desk).
    """
    if face.state == FaceState.ALREADY:
        at = f" {hhmm(face.checked_in_at, tz)}" if face.checked_in_at else ""
        name = f"{who(face.person)}，" if face.person is not None else ""
        return Message(f"{name}已报到{at}", "无需重复报到", Tone.INFO, 3.0, True)
    if face.state == FaceState.CONFIRMED and face.person is not None:
        when = face.checked_in_at or datetime.now().astimezone()
        return checkin_message(face.person, when, tz=tz)
    if face.state == FaceState.NOT_ON_ROSTER:
        return Message("您不在本次会议名单中", "请到服务台", Tone.STOP, 4.0)
    if face.state == FaceState.UNKNOWN and failed:
        return Message("未能识别您的身份", "请到服务台", Tone.STOP, 3.0)
    if face.state == FaceState.UNKNOWN:
        return RECOGNISING
    if face.state == FaceState.NOT_OPEN:
        return Message("现在不在报到时间内", "请到服务台", Tone.STOP, 3.0)
    if face.state == FaceState.LIVENESS:
        prompt = LIVENESS_PROMPTS.get(face.action or "blink", "请眨眨眼")
        return Message(prompt, "请看着摄像头", Tone.INFO, 1.5)
    if face.state == FaceState.REJECTED and face.reason == "liveness":
        return Message("未能完成确认", "请到服务台", Tone.STOP, 4.0)
    if face.state == FaceState.REJECTED:
        return Message(REJECT_PROMPTS.get(face.reason or "", "请正对镜头"), "", Tone.WARN, 2.0)
    if face.state == FaceState.MATCHING:
        return Message("正在识别，请稍候…", "", Tone.INFO, 1.0)
    return None


_PRIORITY = {Tone.OK: 3, Tone.STOP: 2, Tone.INFO: 1, Tone.WARN: 0}


def pick_message(
    faces: list[FaceResult], *, failed: frozenset[int] = frozenset(), tz: tzinfo | None = None
) -> Message | None:
    """The message for the largest face; ties broken by importance. `failed`: track ids that
    have been unknown for `UNKNOWN_FAIL_S`."""
    best: tuple[int, int, Message] | None = None
    for face in faces:
        msg = face_message(face, failed=face.track_id in failed, tz=tz)
        if msg is None:
            continue
        t, r, b, le = face.box
        key = (min(b - t, r - le), _PRIORITY[msg.tone], msg)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None
