"""Service settings: environment variables with the BAODAO_ prefix, or a .env file."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.db import PoolSize

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "baodao", ""}

FaceModelName = Literal["sface", "dlib"]
# Settings whose default depends on the face model: its distances, its detector's face sizes
# and its encoder's jitter. An explicitly set value (BAODAO_*, .env, argument) or one stored
# for that model (`stored_settings`) replaces the default; the Field defaults below are the
# default model's. Chosen on ../shared/faces/dev (docs/accuracy.md): SFace by cosine distance
# 1 − cos on YuNet boxes, dlib by Euclidean distance on HOG boxes.
MODEL_DEFAULTS: dict[str, dict[str, float | int]] = {
    "sface": {
        "match_threshold": 0.55,
        "match_margin": 0.05,
        "enroll_jitters": 1,
        "min_face_px": 36,
        "enroll_min_face_px": 44,
        "kiosk_min_face_px": 48,
    },
    "dlib": {
        "match_threshold": 0.43,
        "match_margin": 0.05,
        "enroll_jitters": 4,
        "min_face_px": 40,
        "enroll_min_face_px": 48,
        "kiosk_min_face_px": 80,
    },
}
PER_MODEL = frozenset(MODEL_DEFAULTS["sface"])


class Settings(BaseSettings):
    """Everything configurable; thresholds are bounded and described, unknown keys rejected."""

    model_config = SettingsConfigDict(
        env_prefix="BAODAO_", env_file=".env", extra="forbid", validate_default=True
    )

    database_url: str = Field(
        "sqlite:///./var/baodao.db",
        description="SQLAlchemy URL: sqlite:///… or postgresql+psycopg://…",
    )
    data_dir: Path = Field(
        Path("var"), description="Folder for the secret key, evidence and reports"
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs sessions and encrypts embeddings; generated into data_dir if unset"
    )
    redis_url: str | None = Field(
        None, description="redis://… to fan live status out across several serve processes"
    )
    redis_prefix: str = Field(
        "baodao",
        pattern=r"^[A-Za-z0-9_.:-]{1,60}$",
        description="Prefix of the Redis channel (<prefix>:meeting-changed): services sharing "
        "one Redis keep apart with different prefixes",
    )
    db_pool_size: int = Field(
        10, ge=1, le=200, description="Database connections kept open per serve process"
    )
    db_max_overflow: int = Field(
        20, ge=0, le=500, description="Extra connections a burst may open beyond db_pool_size"
    )
    db_pool_timeout: float = Field(
        5.0,
        ge=0.1,
        le=60.0,
        description="Seconds a request waits for a free connection before it is answered 503",
    )
    log_level: str = Field("INFO", description="Python logging level")
    face_model: FaceModelName = Field(
        "sface",
        description="Face model: sface (YuNet + SFace, the default) or dlib (face_recognition); "
        "the gallery uses only templates made by this model",
    )

    # Matching: chosen on ../shared/faces/dev with
    #   baodao bench accuracy --faces ../shared/faces/dev --plot bench-output/accuracy.png
    # (and --gallery-per-id 2 for stability); numbers and what was tried: docs/accuracy.md.
    # Check a real roster with `baodao calibrate`.
    match_threshold: float = Field(
        0.55,
        ge=0.2,
        le=0.8,
        description="Largest face distance accepted as the same person (the model's metric: "
        "sface 1 − cosine, dlib Euclidean)",
    )
    match_margin: float = Field(
        0.05,
        ge=0.0,
        le=0.5,
        description="Smallest distance gap between best and second-best person",
    )
    lookalike_margin: float = Field(
        0.05, ge=0.0, le=0.5, description="Extra margin for deputies flagged as look-alikes"
    )
    confirm_frames: int = Field(
        2, ge=1, le=30, description="Frames of one tracked face that must agree before check-in"
    )
    track_pool_frames: int = Field(
        2,
        ge=1,
        le=10,
        description="Each live decision uses the mean encoding of a face track's last N frames",
    )
    enroll_jitters: int = Field(
        1, ge=1, le=100, description="Encoding jitters for enrollment photos (one pass each)"
    )
    live_jitters: int = Field(
        1, ge=1, le=20, description="Encoding jitters for live kiosk frames (≈30 ms each per face)"
    )
    min_face_px: int = Field(
        36, ge=20, le=400, description="Smallest face side (pixels) worth encoding in a photo"
    )
    kiosk_min_face_px: int = Field(
        48,
        ge=20,
        le=400,
        description="Smallest face side (pixels) in a kiosk frame: smaller faces are asked to "
        "come closer (dlib: it also sets HOG's detection scale, 80 = no upscaling)",
    )
    max_image_pixels: int = Field(
        40_000_000, ge=100_000, description="Larger images are refused (decompression bombs)"
    )
    max_image_bytes: int = Field(20_000_000, ge=10_000, description="Largest upload accepted")
    max_frame_bytes: int = Field(2_000_000, ge=10_000, description="Largest kiosk frame accepted")
    max_frame_pixels: int = Field(
        4_000_000, ge=10_000, description="Largest kiosk frame size (width × height)"
    )
    max_json_bytes: int = Field(
        1_000_000,
        ge=10_000,
        description="Largest request body of every route without its own limit (JSON, forms); "
        "photo uploads may carry 20 × max_image_bytes",
    )
    max_import_bytes: int = Field(
        1_000_000_000,
        ge=1_000_000,
        description="Largest request body of a bulk import (roster + ZIP of photos)",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other origins (scheme://host[:port], comma-separated) whose pages may use "
        "the session cookie and the WebSockets; the server's own origin is always allowed",
    )
    live_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host:port of every serve process (comma-separated): the live pages try "
        "them in turn when theirs goes away; empty: the page's own host (a reverse proxy)",
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="Wrong passwords in a row before an account is locked"
    )
    login_lockout_seconds: int = Field(
        300,
        ge=1,
        le=86_400,
        description="How long a locked account (and a throttled address) waits",
    )
    login_address_max_failures: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Wrong passwords from one address within login_lockout_seconds before it "
        "is throttled (any account, known or not)",
    )
    timezone: str = Field(
        "Asia/Shanghai", description="Time zone for times shown on pages, sheets and the CLI"
    )
    live_heartbeat_seconds: float = Field(
        15.0, ge=1.0, le=300.0, description="Heartbeat interval of the live status WebSocket"
    )
    live_poll_seconds: float = Field(
        2.0,
        ge=0.0,
        le=300.0,
        description="Re-check watched meetings this often for changes made by other processes "
        "(CLI, other servers without Redis); 0 turns it off",
    )
    live_send_timeout_seconds: float = Field(
        2.0,
        ge=0.1,
        le=60.0,
        description="Dashboards slower than this to take a message are dropped",
    )
    workers: int = Field(0, ge=0, le=64, description="Face worker processes; 0 means one per core")
    face_worker_nice: int = Field(
        5,
        ge=0,
        le=19,
        description="How much lower the face workers' CPU priority is than serve's (Unix nice): "
        "live pushes and replies first on a busy machine",
    )
    track_min_iou: float = Field(
        0.3, ge=0.05, le=0.95, description="Box overlap (IoU) that continues a face track"
    )
    track_max_missed_frames: int = Field(
        15, ge=1, le=300, description="A face track ends after this many frames without it"
    )
    track_max_missed_s: float = Field(
        3.0, ge=0.1, le=60.0, description="A face track ends after this many seconds without it"
    )
    reverify_frames: int = Field(
        10, ge=1, le=300, description="A checked-in face track is re-encoded every N frames"
    )
    rest_distance_gap: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A face farther than match_threshold + this from everyone is not encoded "
        "again in the next frame (saves CPU on strangers; near matches are never skipped)",
    )
    full_detect_frames: int = Field(
        5, ge=1, le=100, description="While faces are tracked, search the whole frame every N"
    )
    max_buffered_frames: int = Field(
        500, ge=1, le=100_000, description="Offline (buffered) frames queued per kiosk"
    )
    max_buffered_bytes: int = Field(
        16_000_000,
        ge=100_000,
        description="Bytes of offline (buffered) frames queued per kiosk connection; a kiosk "
        "that sends more waits (the socket is not read) until the queue drains",
    )
    kiosk_faces: Literal["largest", "all"] = Field(
        "largest",
        description="Faces in one kiosk frame that may check in: the largest (closest to the "
        "camera) only, the others are reported without identity and not encoded; or all",
    )
    liveness: Literal["blink", "challenge", "off"] = Field(
        "blink",
        description="Before a kiosk face checks in it must blink (blink), do a random one of "
        "blink / turn the head left / right (challenge), or nothing (off: photos check in)",
    )
    liveness_actions: Annotated[list[Literal["blink", "turn_left", "turn_right"]], NoDecode] = (
        Field(
            ["blink", "turn_left", "turn_right"],
            min_length=1,
            description="Actions the challenge mode picks from at random (comma-separated)",
        )
    )
    liveness_seconds: float = Field(
        8.0,
        ge=2.0,
        le=60.0,
        description="Time a recognised face has for the liveness action before it is rejected",
    )
    hello_timeout_s: float = Field(
        10.0, ge=0.1, le=300.0, description="Seconds a kiosk has to send hello after connecting"
    )
    kiosk_exit_pin: SecretStr | None = Field(
        None,
        description="PIN (4-12 digits) that leaves the browser kiosk page (/kiosk); unset: "
        "the page asks for the kiosk's own token instead",
    )
    gallery_check_s: float = Field(
        2.0, ge=0.0, le=600.0, description="How often a meeting's gallery is checked for changes"
    )
    enroll_min_face_px: int = Field(
        44,
        ge=20,
        le=400,
        description="Smallest face side (pixels) accepted in an enrollment photo; ID-style "
        "scans are small, and both models align every face to a fixed chip before encoding",
    )
    lookalike_safety_margin: float = Field(
        0.05,
        ge=0.0,
        le=0.5,
        description="Deputies whose closest templates are nearer than match_threshold plus "
        "this are listed as look-alikes after enrollment",
    )

    session_absence_rule: Literal["any_plenary", "all_plenaries", "majority"] = Field(
        "any_plenary",
        description="When a deputy who missed plenaries did not attend the session (代表法 §49): "
        "any_plenary = attended none of its plenaries, with at least one missed without leave; "
        "all_plenaries = missed any plenary without leave; majority = missed more than half "
        "of them without leave",
    )

    @model_validator(mode="after")
    def _model_defaults(self) -> Settings:
        """Per-model defaults for the settings not set explicitly (they stay "not set")."""
        for key, value in MODEL_DEFAULTS[self.face_model].items():
            if key not in self.model_fields_set:
                self.__dict__[key] = value
        return self

    @field_validator("kiosk_exit_pin")
    @classmethod
    def _pin(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not re.fullmatch(r"[0-9]{4,12}", v.get_secret_value()):
            raise ValueError("must be 4 to 12 digits")
        return v

    @field_validator("secret_key")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and (
            v.get_secret_value().lower() in PLACEHOLDER_SECRETS or len(v.get_secret_value()) < 16
        ):
            raise ValueError("BAODAO_SECRET_KEY is a placeholder or shorter than 16 characters")
        return v

    @field_validator("liveness_actions", "live_hosts", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        """`a, b` from the environment as ["a", "b"]."""
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> object:
        if isinstance(v, str):
            v = [part for part in v.split(",") if part.strip()]
        if isinstance(v, list | tuple):
            out = []
            for item in v:
                origin = str(item).strip().rstrip("/").lower()
                scheme, _, host = origin.partition("://")
                if scheme not in ("http", "https") or not host or "/" in host:
                    raise ValueError(f"{item!r} is not an origin like https://host[:port]")
                out.append(origin)
            return out
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    def for_model(self, name: str) -> Settings:
        """These settings under face model `name`: per-model settings not set explicitly take
        that model's defaults, everything else stays (benchmarks compare the two models)."""
        data = {
            k: v
            for k, v in self.model_dump().items()
            if k not in PER_MODEL or k in self.model_fields_set
        }
        new = Settings.model_validate(data | {"face_model": name})
        new.__pydantic_fields_set__ = set(self.model_fields_set) | {"face_model"}
        return new

    def ensure_data_dir(self) -> Path:
        """Create the data folder (0700: only the service reads it) and check it is writable."""
        from checkin.errors import ConfigError

        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.data_dir.stat().st_mode & 0o077:  # the key and the database live here
                self.data_dir.chmod(0o700)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"data folder {self.data_dir} is not writable: {exc.strerror}"
            ) from exc
        return self.data_dir

    def resolved_secret(self) -> str:
        """The secret key: given, or read from (and on first use written to) data_dir, mode 0600."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.ensure_data_dir() / "secret.key"
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def db_pool(settings: Settings) -> PoolSize:
    """The connection pool the settings ask for."""
    return PoolSize(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout)
