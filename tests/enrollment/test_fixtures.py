"""Must-show 2: every fixture photo gets its expected outcome; broken files fail clearly,
store nothing, and the import goes on with the next row."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from checkin.audit import Actor
from checkin.runtime import Runtime
from enrollment import service
from enrollment.roster import RosterRow
from models import Deputy, FaceTemplate
from models.db import session_scope
from tests.enrollment.badfiles import EXPECTED_BAD, bad_files

pytestmark = pytest.mark.slow

# Outcome per fixture: "enrolled" or the reason code. Masked, cartoon and screen-replay faces
# pass the engine's quality gate: it has no mask or liveness check (spoofing is the kiosk's
# concern, and enrollment photos are chosen by an admin); they are listed so a change shows.
EXPECTED = {
    "no_face/dark_no_face.png": "no_face",
    "no_face/landscape_view.jpg": "no_face",
    "no_face/object_face_mask_blue.jpg": "no_face",
    "group/chinese_group_photo_t2.jpg": "multiple_faces",
    "group/friends_cast_t1.jpg": "multiple_faces",
    "group/kit_with_rose.jpg": "multiple_faces",
    "group/obama_and_biden_crowd.jpg": "multiple_faces",
    "group/two_people_obama_biden.jpg": "multiple_faces",
    "profile/left_face.jpeg": "not_frontal",
    "profile/right_face.png": "no_face",
    "hard/blurred_face.jpg": "too_blurry",
    "hard/masked_face_crop.png": "no_face",
    "hard/rot_0.jpg": "enrolled",
    "hard/rot_90.jpg": "enrolled",
    "hard/rot_180.jpg": "enrolled",
    "hard/rot_270.jpg": "enrolled",
    "hard/rgba_32bit.png": "enrolled",
    "hard/obama_partial_face.jpg": "enrolled",
    "hard/masked_face.jpg": "enrolled",
    "hard/cartoon_face.jpg": "enrolled",
    "hard/screen_replay_spoof.jpg": "enrolled",
}


def test_fixture_outcomes_and_broken_files(rt: Runtime, faces_dir: Path, tmp_path: Path) -> None:
    fixtures = faces_dir / "fixtures"
    listed = {
        p.relative_to(fixtures).as_posix()
        for sub in ("no_face", "group", "profile", "hard")
        for p in (fixtures / sub).iterdir()
    }
    assert listed == set(EXPECTED)  # a new fixture needs an expected outcome here
    photos = tmp_path / "photos"
    photos.mkdir()
    rows: list[RosterRow] = []
    expected: dict[str, str] = {}
    # Broken files first and in between, so "the import continues" is visible.
    items: list[tuple[str, Path | bytes, str]] = []
    bad = bad_files(faces_dir)
    for name, data in bad.items():
        items.append((f"bad:{name}", data, EXPECTED_BAD[name]))
    for name in sorted(EXPECTED):
        items.append((name, fixtures / name, EXPECTED[name]))
    items.append(("single/biden.jpg", fixtures / "single" / "biden.jpg", "enrolled"))
    for i, (label, source, outcome) in enumerate(items):
        number = f"F{i:03d}"
        if isinstance(source, bytes):
            (photos / f"{number}.jpg").write_bytes(source)
        else:
            (photos / f"{number}{source.suffix}").symlink_to(source)
        rows.append(RosterRow(i + 2, number, label))
        expected[number] = outcome

    report = service.import_roster(
        rt.sessions,
        cipher=rt.cipher,
        settings=rt.settings,
        rows=rows,
        photos_dir=photos,
        workers=2,
        actor=Actor.cli(),
    )
    got = {p.number: (p.status if p.status == "enrolled" else p.reason) for p in report.photos}
    assert {rows[int(n[1:])].name: v for n, v in got.items()} == {
        rows[int(n[1:])].name: v for n, v in expected.items()
    }
    for p in report.photos:
        if p.status == "failed":
            assert p.message and not p.message.isascii()  # a Chinese explanation
    rotated = {rows[int(p.number[1:])].name: p.rotation for p in report.photos}
    assert rotated["hard/rot_0.jpg"] == 0
    assert {rotated[f"hard/rot_{k}.jpg"] for k in (90, 180, 270)} == {90, 180, 270}

    enrolled = {n for n, v in expected.items() if v == "enrolled"}
    with session_scope(rt.sessions) as s:
        stored = set(s.scalars(select(Deputy.number)))
        with_faces = set(
            s.scalars(
                select(Deputy.number).join(
                    FaceTemplate, FaceTemplate.subject == Deputy.face_subject
                )
            )
        )
    assert stored == enrolled and with_faces == enrolled  # failures stored nothing

    # The same face under four rotations is four "deputies" that look alike.
    pairs = {frozenset((p["a"]["name"], p["b"]["name"])) for p in report.lookalikes}
    assert frozenset(("hard/rot_0.jpg", "hard/rot_90.jpg")) in pairs
    assert frozenset(("hard/rgba_32bit.png", "hard/obama_partial_face.jpg")) in pairs
    assert frozenset(("single/biden.jpg", "hard/rot_0.jpg")) not in pairs
