"""`baodao bench accuracy|speed|all|term` and `baodao calibrate`: thin commands over bench
modules."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from checkin import audit, stored_settings
from checkin.bench import accuracy as acc
from checkin.bench import calibrate as cal
from checkin.bench import report, suite
from checkin.bench import report as report_md
from checkin.bench.folder import encode_folder, list_identities
from checkin.errors import BaodaoError
from checkin.faces.model import MODEL_NAMES, info
from checkin.runtime import Runtime, load_settings, open_runtime
from checkin.settings import Settings
from models.db import make_session_factory, session_scope

logger = logging.getLogger(__name__)
bench_app = typer.Typer(help="性能与准确率基准 (benchmarks)", no_args_is_help=True)
console = Console()

MIN_DEPUTIES = 3  # two distances between different persons, the least `suggest` can fit


def _fail(exc: BaodaoError) -> typer.Exit:
    console.print(f"[red]错误：{exc.message}[/red]")
    return typer.Exit(code=2)


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"开集识别准确率 (K={report['gallery_per_id']})")
    for col in ("", "threshold", "margin", *acc.METRIC_KEYS[4:]):
        table.add_column(col, justify="right" if col else "left", no_wrap=True)
    for label, r in report_md.accuracy_runs(report):
        table.add_row(
            label,
            f"{r['threshold']:.2f}",
            f"{r['margin']:.2f}",
            *(f"{r[k]:.3f}" for k in acc.METRIC_KEYS[4:]),
        )
    return table


def _sizes(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter("例如 40,150,367", param_hint="--sizes") from None


def _size_table(report: dict[str, Any]) -> Table:
    table = Table(title="注册人数与冒名接受率 (impostor accept vs people enrolled)")
    for col in ("model", "N", "tar", "wrong_id", "impostor_accept", "strangers", "t@1%", "t@0.5%"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for model, rows in report["by_size"].items():
        for r in rows:
            largest = r["largest_threshold"]
            table.add_row(
                model,
                str(r["size"]),
                f"{r['tar']:.3f}",
                f"{r['wrong_id']:.4f}",
                f"{r['impostor_accept']:.4f}",
                f"{r['strangers_accept']:.4f}",
                *(
                    f"{largest[k]['threshold']:.3f}" if largest[k] else "–"
                    for k in ("0.01", "0.005")
                ),
            )
    return table


@bench_app.command("accuracy")
def accuracy(
    faces: Annotated[Path, typer.Option("--faces", help="目录：每个身份一个子目录")],
    gallery_per_id: Annotated[
        int, typer.Option("--gallery-per-id", min=1, help="每人注册照片数 K")
    ] = 1,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="只测这一个模型 sface|dlib（默认：当前模型、另一模型和 plain face_recognition）",
        ),
    ] = None,
    scale: Annotated[
        Path | None,
        typer.Option(
            "--scale",
            help="注册人数测试集（如 ../shared/faces/scale）：其中每人都注册，strangers_* 为冒名者",
        ),
    ] = None,
    sizes: Annotated[
        str | None,
        typer.Option("--sizes", help="与 --scale 同用：按注册人数 N 列表，如 40,150,367"),
    ] = None,
    subset: Annotated[
        Path | None,
        typer.Option("--subset", help="身份名单文件（每行一个），单独报告这些身份（如东亚面孔）"),
    ] = None,
    probe_face_px: Annotated[
        int | None,
        typer.Option(
            "--probe-face-px", min=8, max=400, help="把探针照片缩小到人脸宽 X 像素（模拟距离）"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="DET 曲线 PNG 文件")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=2)] = 2,
) -> None:
    """Open-set identification over identity folders: both models beside plain face_recognition."""
    if model is not None and model not in MODEL_NAMES:
        raise typer.BadParameter(f"{model}（可选 {' / '.join(MODEL_NAMES)}）", param_hint="--model")
    if sizes and scale is None:
        raise typer.BadParameter("--sizes 需要与 --scale 一起使用", param_hint="--sizes")
    try:
        settings = load_settings()
        report = suite.run_accuracy(
            faces,
            gallery_per_id=gallery_per_id,
            settings=settings,
            workers=workers,
            models=None if model is None else [model],
            scale=scale,
            sizes=_sizes(sizes),
            subset=suite.read_subset(subset) if subset is not None else None,
            probe_face_px=probe_face_px,
        )
    except BaodaoError as exc:
        raise _fail(exc) from exc
    if plot is not None:
        suite.plot_det(report, plot)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    console.print(_table(report))
    if "by_size" in report:
        console.print(_size_table(report))
    for run in [report, *report["models"].values()]:
        if "subset" in run:
            sub = run["subset"]
            console.print(
                f"{run['model']} 名单内 {sub['identities']} 个身份：tar {sub['tar']:.3f}，"
                f"wrong_id {sub['wrong_id']:.4f}，impostor_accept {sub['impostor_accept']:.4f}"
                f"（{sub['genuine_probes']} 真实 / {sub['impostor_probes']} 冒名探针）"
            )
    console.print(
        f"身份 {report['identities']}，注册模板 {report['gallery_size']}，"
        f"真实探针 {report['genuine_probes']}，冒名探针 {report['impostor_probes']}；"
        f"未取得单张可用人脸：{report['no_single_face']}；用时 {report['seconds']['total']} s"
    )
    if plot is not None:
        console.print(f"DET 曲线已写入 {plot}")


@dataclass
class _Population:
    """Distances from one source (the enrolled gallery or a labelled folder) and pair labels."""

    closest: list[cal.Pair]
    genuine: np.ndarray
    persons: int
    label: Callable[[int], str]


def _db_population(rt: Runtime) -> _Population:
    """Closest-template distances between the seated deputies enrolled in the database."""
    from enrollment.service import load_gallery

    with rt.sessions() as session:
        gallery, deputies = load_gallery(session, cipher=rt.cipher, model=rt.settings.face_model)
        names = {i: f"{d.number} {d.name}" for i, d in deputies.items()}
    return _Population(
        closest=cal.impostor_pairs(gallery),
        genuine=cal.genuine_distances(gallery),
        persons=gallery.persons,
        label=lambda i: names[i],
    )


def calibrate(
    faces: Annotated[
        Path | None,
        typer.Option("--faces", help="另加有标注的目录：每个身份一个子目录"),
    ] = None,
    target_far: Annotated[
        float, typer.Option("--target-far", min=1e-6, max=0.5, help="允许的冒名接受率")
    ] = 0.001,
    gallery_per_id: Annotated[int, typer.Option("--gallery-per-id", min=1)] = 1,
    pairs: Annotated[int, typer.Option("--pairs", min=0, help="列出最相似的几对")] = 10,
    workers: Annotated[int, typer.Option("--workers", min=1, max=2)] = 2,
    use_db: Annotated[
        bool, typer.Option("--db/--no-db", help="使用数据库中已注册代表的模板（默认）")
    ] = True,
    apply: Annotated[
        bool, typer.Option("--apply", help="把建议的阈值写入数据库（记入审计日志）")
    ] = False,
    roster_size: Annotated[
        int | None,
        typer.Option(
            "--roster-size",
            min=1,
            help="一次会议名册的人数（默认：已注册的在任代表人数）；人数越多阈值越严",
        ),
    ] = None,
) -> None:
    """Suggest a match threshold (for the active face model) from distances between different
    enrolled deputies, within what the model allows for the roster's size."""
    if not use_db and (faces is None or apply):
        console.print("[red]错误：--no-db 时需要 --faces，且不能 --apply。[/red]")
        raise typer.Exit(code=2)
    rt: Runtime | None = None
    db: _Population | None = None
    try:
        if use_db:
            rt = open_runtime()
            settings = rt.settings
            db = _db_population(rt)
        else:
            settings = load_settings()
        folder = _folder_population(faces, settings, gallery_per_id, workers) if faces else None
    except BaodaoError as exc:
        raise _fail(exc) from exc
    if db is not None and db.persons < MIN_DEPUTIES and (folder is None or apply):
        console.print(
            f"[red]错误：数据库中只有 {db.persons} 位在任代表有人脸模板；"
            f"至少需要 {MIN_DEPUTIES} 位才能估计不同人之间的距离分布"
            "（或另给 --faces 有标注的目录，但那样不能 --apply）。[/red]"
        )
        raise typer.Exit(code=2)
    folder_pop, probes = folder if folder else (None, None)
    sources = [p for p in (db, folder_pop) if p is not None and p.persons >= 2]
    imp = [p.distance for src in sources for p in src.closest]
    gen = np.concatenate([src.genuine for src in sources] + [np.empty(0)])
    # An impostor at a kiosk is compared with everyone on the roster (union bound in
    # `suggest`); without --roster-size, every enrolled deputy (the largest roster possible).
    persons = max((src.persons for src in sources), default=1)
    if db is not None and db.persons >= MIN_DEPUTIES:
        persons = db.persons
    persons = roster_size or persons
    try:
        s = cal.suggest(
            imp,
            gen,
            target_far,
            persons=persons,
            margin=settings.match_margin,
            ceiling=cal.roster_ceiling(settings.face_model, persons, target_far),
        )
    except ValueError as exc:
        console.print(f"[red]错误：距离太少，无法估计阈值（{exc}）。[/red]")
        raise typer.Exit(code=2) from exc
    _print_calibration(s, imp, sources, pairs, probes, settings.face_model)
    if apply:
        assert rt is not None and db is not None
        _apply(rt, s, deputies=db.persons, faces=faces)


def _folder_population(
    faces: Path, settings: Settings, gallery_per_id: int, workers: int
) -> tuple[_Population, acc.ProbeSet]:
    """Encode a labelled folder by the bench protocol: its gallery pairs and genuine probes."""
    identities = list_identities(faces)
    roles = acc.roles(identities, gallery_per_id=gallery_per_id)
    raw = encode_folder(identities, roles, suite.engine_params(settings), workers=workers)
    probes = acc.build_probe_set(
        suite.encodings(raw), gallery_per_id=gallery_per_id, metric=info(settings.face_model).metric
    )
    population = _Population(
        closest=cal.impostor_pairs(probes.gallery),
        genuine=suite.genuine_probe_distances(probes),
        persons=probes.gallery.persons,
        label=lambda i: probes.names[i],
    )
    return population, probes


def _apply(rt: Runtime, s: cal.Suggestion, *, deputies: int, faces: Path | None) -> None:
    """Store the suggested threshold for the active face model (ConfigValue
    `MODEL:match_threshold`) with an audit event, in one transaction."""
    settings = rt.settings
    try:
        stored_settings.validate(settings, {"match_threshold": s.threshold}, source="建议的")
    except BaodaoError as exc:
        raise _fail(exc) from exc
    key = stored_settings.key_for("match_threshold", settings.face_model)
    with session_scope(rt.sessions) as session:
        changes = stored_settings.store(
            session,
            {key: s.threshold},
            actor=audit.Actor.cli(),
            action="settings.calibrate",
            detail={
                "model": settings.face_model,
                "effective_before": {"match_threshold": settings.match_threshold},
                "target_far": s.target_far,
                "method": s.method,
                "impostor_pairs": s.impostor_pairs,
                "deputies": deputies,
                "roster_size": s.persons,
                "faces": str(faces) if faces else None,
            },
        )
    c = changes[key]
    console.print(
        f"已写入数据库：{settings.face_model} 模型的 match_threshold "
        f"{settings.match_threshold:g} → {c['new']}"
        f"（此前保存的值：{c['old'] or '无'}；审计记录 settings.calibrate）。"
        "正在运行的 baodao serve 需重启后生效。"
    )
    if "match_threshold" in settings.model_fields_set:
        console.print(
            "[yellow]注意：已显式设置 BAODAO_MATCH_THRESHOLD（环境变量或 .env），"
            "它优先于数据库中保存的值。[/yellow]"
        )


def _print_calibration(
    s: cal.Suggestion,
    dists: list[float],
    sources: list[_Population],
    n_pairs: int,
    probes: acc.ProbeSet | None,
    model: str,
) -> None:
    hist = Table(title=f"不同人之间的距离分布（{s.impostor_pairs} 对）")
    hist.add_column("距离")
    hist.add_column("对数", justify="right")
    hist.add_column("")
    bins = cal.histogram(dists, lo=0.3, hi=1.1, bins=16)
    peak = max(c for _, _, c in bins) or 1
    for lo, hi, c in bins:
        hist.add_row(f"{lo:.2f}–{hi:.2f}", str(c), "█" * round(30 * c / peak))
    console.print(hist)
    look = Table(title="最相似的不同人（建议核对，必要时标记为相似者 look-alike）")
    for col in ("A", "B", "距离"):
        look.add_column(col)
    closest = sorted(
        ((src.label(p.a), src.label(p.b), p.distance) for src in sources for p in src.closest),
        key=lambda row: row[2],
    )
    for a, b, d in closest[:n_pairs]:
        look.add_row(a, b, f"{d:.3f}")
    console.print(look)
    console.print(
        f"{model} 模型，名册 {s.persons} 人（该人数下的上限 "
        f"{'无' if s.ceiling is None else f'{s.ceiling:.3f}'}）："
        f"建议阈值 match_threshold = [bold]{s.threshold:.3f}[/bold]（方法 {s.method}，"
        f"目标冒名接受率 {s.target_far:g}，每对 {s.per_pair_far:.2g}；"
        f"最近的不同人距离 {s.impostor_min:.3f}，"
        f"均值 {s.impostor_mean:.3f}±{s.impostor_std:.3f}），"
        f"margin = {s.margin:.3f}（沿用当前设置，本命令不估计 margin）"
    )
    if s.genuine_reject is not None:
        console.print(
            f"同一人距离 ≥ 阈值的比例（拒识估计）：{s.genuine_reject:.3f}（{s.genuine_pairs} 对）"
        )
    if probes is not None:
        measured = acc.evaluate(probes, threshold=s.threshold, margin=s.margin)
        console.print(
            f"在本目录的探针上实测：impostor_accept = {measured.impostor_accept:.4f}"
            f"（{measured.impostor_probes} 个冒名探针），tar = {measured.tar:.3f}，"
            f"wrong_id = {measured.wrong_id:.4f}"
        )


def _speed_table(speed: dict[str, Any]) -> Table:
    table = Table(title="速度（每项与同一次运行中测得的基线比较）")
    for col in ("measure", "Baodao", "baseline (same run)", "ratio"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    for row in report.speed_rows(speed):
        table.add_row(*row)
    return table


@bench_app.command("speed")
def speed(
    faces: Annotated[
        Path, typer.Option("--faces", help="身份目录（如 ../shared/faces/dev）；其上级含 fixtures/")
    ] = Path("../shared/faces/dev"),
    workers: Annotated[int, typer.Option("--workers", min=1, max=2)] = 2,
    trials: Annotated[
        int, typer.Option("--trials", min=1, help="每个终端、每种设置的签到次数")
    ] = 5,
    enroll_limit: Annotated[
        int, typer.Option("--enroll-limit", min=0, help="注册测速只用前 N 张照片（0 = 全部）")
    ] = 0,
    clients: Annotated[int, typer.Option("--clients", min=1, help="大屏连接数")] = 50,
    checkins: Annotated[int, typer.Option("--checkins", min=2, help="推送测速的签到数")] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
) -> None:
    """Enrollment photos/s, per-frame cost, check-in latency and live push, against baselines."""
    result = _run_speed_or_fail(
        faces,
        workers=workers,
        trials=trials,
        enroll_limit=enroll_limit,
        clients=clients,
        checkins=checkins,
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    console.print(_speed_table(result))


def _run_speed_or_fail(faces: Path, **kwargs: Any) -> dict[str, Any]:
    try:
        return suite.run_speed(faces, **kwargs)
    except BaodaoError as exc:
        raise _fail(exc) from exc
    except RuntimeError as exc:  # a benchmark child or server failed; its output is in exc
        logger.exception("benchmark failed")
        console.print(f"[red]错误：基准测试失败：{str(exc)[-500:]}[/red]")
        raise typer.Exit(code=1) from exc


@bench_app.command("all")
def run_all(
    faces: Annotated[Path, typer.Option("--faces", help="目录：每个身份一个子目录")],
    out: Annotated[Path, typer.Option("--out", help="报告输出目录")] = Path("bench-output"),
    workers: Annotated[int, typer.Option("--workers", min=1, max=2)] = 2,
    trials: Annotated[int, typer.Option("--trials", min=1, help="签到延迟的试验次数")] = 3,
    enroll_limit: Annotated[
        int,
        typer.Option("--enroll-limit", min=0, help="注册测速只用前 N 张照片（0 = 全部）"),
    ] = 0,
    quick: Annotated[
        bool, typer.Option("--quick", help="更快：注册测速只用 60 张照片，签到延迟 2 次")
    ] = False,
) -> None:
    """Accuracy and speed; writes report.md, accuracy.png and the JSON results into `out`."""
    settings = load_settings()
    speed_args: dict[str, Any] = {
        "workers": workers,
        "trials": 2 if quick else trials,
        "enroll_limit": 60 if quick else enroll_limit,
        "checkins": 30 if quick else 60,
    }
    try:
        list_identities(faces)
        suite.fixtures_root(faces)
        accuracy = suite.run_accuracy(faces, gallery_per_id=1, settings=settings, workers=workers)
    except BaodaoError as exc:
        raise _fail(exc) from exc
    accuracy["command"] = f"baodao bench accuracy --faces {faces} --json --plot {out}/accuracy.png"
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps(accuracy, ensure_ascii=False, indent=2))
    suite.plot_det(accuracy, out / "accuracy.png")
    console.print(_table(accuracy))
    result = _run_speed_or_fail(faces, **speed_args)
    quick_flag = " --quick" if quick else f" --trials {trials} --enroll-limit {enroll_limit}"
    result["all_command"] = f"baodao bench all --faces {faces} --out {out}{quick_flag}"
    (out / "speed.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    (out / "report.md").write_text(report.render_report(accuracy, result))
    console.print(_speed_table(result))
    console.print(f"报告已写入 {out / 'report.md'}（另有 accuracy.png、accuracy.json、speed.json）")


@bench_app.command("term")
def term(
    deputies: Annotated[int, typer.Option("--deputies", min=1, help="代表人数")] = 1300,
    meetings: Annotated[int, typer.Option("--meetings", min=1, help="会议次数")] = 30,
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="次会议数")] = 6,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="每项重复次数（取中位数）")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
) -> None:
    """The term report at county size: page and XLSX against the plain query of its rows."""
    import tempfile

    from fastapi.testclient import TestClient

    from checkin.accounts.service import create_user
    from checkin.bench import term_report
    from checkin.web.app import create_app
    from models import Role
    from models.db import make_engine, upgrade

    with tempfile.TemporaryDirectory(prefix="baodao-term-bench-") as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            data_dir=Path(tmp) / "data",
            secret_key="bench-secret-key-0123456789",
            _env_file=None,
        )
        engine = make_engine(settings.database_url)
        upgrade(engine)
        t0 = time.perf_counter()
        term_id = term_report.seed(engine, deputies=deputies, meetings=meetings, sessions=sessions)
        seeded_s = time.perf_counter() - t0
        with session_scope(make_session_factory(engine)) as s:
            create_user(s, username="bench", password="bench-password-1", role=Role.SECRETARIAT)
        with TestClient(create_app(settings, engine=engine)) as client:
            login = client.post(
                "/api/auth/login", data={"username": "bench", "password": "bench-password-1"}
            )
            login.raise_for_status()

            def fetch(path: str) -> bytes:
                r = client.get(path)
                r.raise_for_status()
                return r.content

            result = term_report.run(
                engine, term_id, fetch=fetch, zone=settings.timezone, repeat=repeat
            )
        engine.dispose()
    result["seed_s"] = round(seeded_s, 1)
    result["command"] = (
        f"baodao bench term --deputies {deputies} --meetings {meetings} --sessions {sessions}"
        f" --repeat {repeat}"
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    table = Table(
        title=f"届次出席报表：{result['deputies']} 名代表 × {result['meetings']} 次会议"
        f"（{result['rows']} 行，中位数 of {repeat}）"
    )
    for col in ("", "秒", "CPU 秒", "× 基线"):
        table.add_column(col, justify="right" if col else "left")
    cpu = result["cpu_s"]
    for label, key, cpu_key in (
        ("基线：查询全部行 (plain query)", "baseline_query", "baseline_query"),
        ("报表数据 (term_report)", "build", "build"),
        ("页面 (GET …/report)", "page", "page"),
        ("Excel (GET …/report.xlsx)", "xlsx", "xlsx"),
    ):
        seconds = result[f"{key}_s"]
        ratio = seconds / result["baseline_query_s"]
        table.add_row(label, f"{seconds:.3f}", f"{cpu[cpu_key]:.3f}", f"{ratio:.1f}")
    console.print(table)
    console.print(f"负载 (load average) {result['load_average']}，{result['cores']} 核")
    verdict = "达到" if result["page_meets_goal"] else "未达到"
    console.print(f"页面 {result['page_s']:.2f} s，目标 < {term_report.GOAL_S:.0f} s：{verdict}")


@bench_app.command("liveness")
def liveness(
    faces: Annotated[
        Path, typer.Option("--faces", help="人脸数据目录（含 fixtures/liveness/）")
    ] = Path("../shared/faces"),
    fps: Annotated[float, typer.Option("--fps", min=1.0, max=30.0, help="终端每秒帧数")] = 5.0,
    table: Annotated[bool, typer.Option("--table/--no-table", help="逐段视频的结果表")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
) -> None:
    """Liveness on the real clips: which pass which action, and the walk-up time with a blink."""
    from checkin.bench import liveness as lv
    from checkin.recognition.liveness import ACTIONS

    result: dict[str, Any] = {
        "prompted": lv.prompted(faces, fps=fps),
        "walkup": lv.walkup(faces, fps=fps),
    }
    if table:
        result["clips"] = lv.clip_table(faces, fps)
    result["command"] = f"baodao bench liveness --faces {faces} --fps {fps:g}"
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for key, what in (
        ("prompted", "walk-up, blinking about 1 s after arriving (as asked)"),
        ("walkup", "walk-up at any moment, natural blinks only"),
    ):
        w = result[key]
        console.print(
            f"{what}, {w['fps']:g} frames/s: median {w['median_s']} s, p90 {w['p90_s']} s "
            f"over {w['arrivals']:.0f} arrivals ({w['never']:.0f} never), "
            f"{w['frame_cpu_ms']} ms CPU per frame"
        )
    if table:
        t = Table(title=f"活体检测：各段视频首次通过的时间（秒，{fps:g} 帧/秒，不限时）")
        for col in ("clip", "blink", "turn_left", "turn_right"):
            t.add_column(col)
        for row in result["clips"]:
            t.add_row(
                str(row["clip"]),
                *("—" if row[a] is None else f"{row[a]:.1f}" for a in ACTIONS),
            )
        console.print(t)


@bench_app.command("county")
def county(
    faces: Annotated[Path, typer.Option("--faces", help="人脸数据目录（含 dev/ 身份目录）")] = Path(
        "../shared/faces"
    ),
    short: Annotated[
        bool, typer.Option("--short", help="快速版：300 名代表、4 台报到机、10 块大屏")
    ] = False,
    processes: Annotated[
        int, typer.Option("--processes", min=1, max=8, help="PostgreSQL 下的 serve 进程数")
    ] = 2,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=4, help="每个 serve 进程的人脸进程数")
    ] = 1,
    postgres: Annotated[
        str | None,
        typer.Option(
            "--postgres",
            envvar="BAODAO_BENCH_POSTGRES_URL",
            help="专用于测试的 PostgreSQL（会被清空）",
        ),
    ] = None,
    redis_url: Annotated[
        str, typer.Option("--redis", envvar="BAODAO_BENCH_REDIS_URL", help="Redis 地址")
    ] = "redis://127.0.0.1:6379/0",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="只跑 postgres / sqlite / townships")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
) -> None:
    """County scale: 1,300 deputies, 2 serve processes on PostgreSQL + Redis, 8 kiosks, 50
    screens, manual changes at 4/s and 20/s, a kill -9; beside SQLite × 1; 17 townships."""
    from checkin.bench.county import run_county_bench

    result = run_county_bench(
        faces, short=short, processes=processes, workers=workers, postgres_url=postgres,
        redis_url=redis_url, only=only,
    )  # fmt: skip
    result["command"] = "baodao bench county --json" + (" --short" if short else "")
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for name, run in result["runs"].items():
        console.print(f"[bold]{name}[/bold]: {json.dumps(run, ensure_ascii=False)}")
