"""Must-show 1: the 60 dev identities enrol from a roster, re-import changes nothing, and
identifying every other dev photo is accurate at the default threshold and margin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.runtime import Runtime
from checkin.settings import Settings
from enrollment import service
from enrollment.roster import read_roster
from models import AuditEvent, Deputy, FaceTemplate, LookalikePair
from models.db import make_engine, session_scope, upgrade
from tests.enrollment.conftest import make_runtime, write_csv

pytestmark = pytest.mark.slow


@dataclass
class DevImport:
    rt: Runtime
    roster: Path
    photos: Path
    report: service.ImportReport
    names: dict[str, str]  # number -> identity folder
    probes: list[tuple[str, Path]]  # (true identity, photo) for every non-enrolled dev photo


@pytest.fixture(scope="module")
def dev_import(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevImport]:
    """Import the first photo of each dev identity once for the module (workers=2)."""
    tmp = tmp_path_factory.mktemp("dev_import")
    photos = tmp / "photos"
    photos.mkdir()
    rows, names, probes = [], {}, []
    for i, folder in enumerate(sorted(p for p in (faces_dir / "dev").iterdir() if p.is_dir())):
        files = sorted(folder.iterdir())
        number = f"{i + 1:04d}"
        (photos / f"{number}{files[0].suffix}").symlink_to(files[0])
        rows.append([number, folder.name, "男" if i % 2 else "女", f"单位{i % 7}", "第一选区"])
        names[number] = folder.name
        probes += [(folder.name, f) for f in files[1:]]
    roster = write_csv(
        tmp / "名册.csv", ["代表编号", "姓名", "性别", "单位", "选区"], rows, "utf-8-sig"
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'dev.db'}",
        data_dir=tmp / "data",
        secret_key="dev-import-secret-0123456789",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    rt = make_runtime(settings, engine)
    report = service.import_roster(
        rt.sessions,
        cipher=rt.cipher,
        settings=settings,
        rows=read_roster(roster),
        photos_dir=photos,
        workers=2,
        actor=Actor.cli(),
        scope=Scope.everything(),
    )
    yield DevImport(rt, roster, photos, report, names, probes)
    engine.dispose()


def _snapshot(rt: Runtime) -> tuple[int, int, int, list[tuple[str, str, str]]]:
    with session_scope(rt.sessions) as s:
        deputies = s.execute(select(Deputy.number, Deputy.name, Deputy.face_subject)).all()
        return (
            int(s.scalar(select(func.count()).select_from(FaceTemplate)) or 0),
            int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0),
            int(s.scalar(select(func.count()).select_from(LookalikePair)) or 0),
            sorted((n, m, f) for n, m, f in deputies),
        )


def test_every_roster_row_is_enrolled(dev_import: DevImport) -> None:
    report = dev_import.report
    failed = [(p.number, p.photo, p.reason) for p in report.photos if p.status != "enrolled"]
    assert failed == []
    assert report.totals()["deputies"] == 60
    assert report.totals()["enrolled_photos"] == 60
    assert {d.status for d in report.deputies} == {"created"}
    with session_scope(dev_import.rt.sessions) as s:
        per_deputy = dict(
            s.execute(
                select(Deputy.number, func.count(FaceTemplate.id))
                .join(FaceTemplate, FaceTemplate.subject == Deputy.face_subject)
                .group_by(Deputy.number)
            ).all()
        )
    assert per_deputy == dict.fromkeys(dev_import.names, 1)


def test_a_second_import_changes_nothing(dev_import: DevImport) -> None:
    rt = dev_import.rt
    before = _snapshot(rt)
    again = service.import_roster(
        rt.sessions,
        cipher=rt.cipher,
        settings=rt.settings,
        rows=read_roster(dev_import.roster),
        photos_dir=dev_import.photos,
        workers=2,
        actor=Actor.cli(),
        scope=Scope.everything(),
    )
    assert _snapshot(rt) == before
    totals = again.totals()
    assert totals["enrolled_photos"] == 0 and totals["failed_photos"] == 0
    assert totals["duplicate_photos"] == 60 and totals["deputies_unchanged"] == 60


def test_identify_every_other_dev_photo(dev_import: DevImport) -> None:
    rt = dev_import.rt
    with session_scope(rt.sessions) as s:
        identifier = service.Identifier.load(s, cipher=rt.cipher, settings=rt.settings)
    rank1 = accepted_right = accepted_wrong = faces = 0
    for truth, photo in dev_import.probes:
        result = identifier.identify(photo)
        usable = [f for f in result["faces"] if f["candidates"]]
        if not usable:
            continue
        face = max(usable, key=lambda f: f["box"][2] - f["box"][0])
        faces += 1
        rank1 += face["candidates"][0]["name"] == truth
        if face["match"] is not None:
            accepted_right += face["match"]["name"] == truth
            accepted_wrong += face["match"]["name"] != truth
    n = len(dev_import.probes)
    line = (
        f"\nidentify {n} dev probes vs 60 enrolled (threshold {rt.settings.match_threshold}, "
        f"margin {rt.settings.match_margin}): usable face {faces}/{n}, "
        f"rank-1 correct {rank1 / n:.1%}, accepted correctly {accepted_right / n:.1%}, "
        f"wrong-identity accepts {accepted_wrong / n:.2%} ({accepted_wrong}), "
        f"look-alike pairs {len(dev_import.report.lookalikes)}\n"
    )
    sys.stdout.write(line)
    assert rank1 / n >= 0.97
    assert accepted_wrong / n <= 0.01
