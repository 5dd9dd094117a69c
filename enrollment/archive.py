"""Unpacking a ZIP of deputies' photos safely, for the browser's bulk import.

Every entry is judged from the ZIP's directory before a byte is extracted: names that climb
out of the folder (`../`, absolute paths, drive letters, backslashes), folders nested deeper
than `NUMBER/photo.jpg`, files that are not images, entries larger than a photo may be, two
entries with the same name, and a total that would unpack beyond the limit (a ZIP bomb) are
refused with a clear per-file problem. The rest is streamed out in chunks, counting the
bytes actually written (a lying directory cannot write more), into a folder the caller
chose inside the data folder; every target path is checked to lie inside it.
"""

from __future__ import annotations

import posixpath
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from checkin.errors import InvalidInput
from enrollment.roster import IMAGE_SUFFIXES

CHUNK = 1 << 16
MAX_ENTRIES = 20_000
_DRIVE = re.compile(r"^[A-Za-z]:")
_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db")


@dataclass(frozen=True)
class FileProblem:
    """One file of the ZIP that was not extracted, and why (shown to the clerk)."""

    name: str
    reason: str  # unsafe_path, too_deep, not_image, too_large, duplicate_name
    message: str


@dataclass
class Unpacked:
    folder: Path
    files: list[str]
    problems: list[FileProblem]


class ArchiveError(InvalidInput):
    """The whole ZIP is refused (unreadable, too many entries, a bomb)."""

    code = "bad_archive"


def _unsafe(name: str) -> bool:
    if "\\" in name or "\x00" in name or name.startswith("/") or _DRIVE.match(name):
        return True
    return any(part == ".." for part in name.split("/"))


def _common_root(names: list[str]) -> str:
    """A single top folder every entry sits in (someone zipped the folder itself)."""
    firsts = {n.split("/", 1)[0] for n in names}
    if len(firsts) == 1 and all("/" in n for n in names):
        return next(iter(firsts)) + "/"
    return ""


def unpack_photos(
    archive_path: Path,
    dest: Path,
    *,
    max_file_bytes: int,
    max_total_bytes: int,
) -> Unpacked:
    """Extract the photos of `archive_path` into `dest` (created; must be empty).

    Raises ArchiveError for a ZIP that cannot be used at all; per-file problems are
    returned with the files extracted (relative names, as `find_photos` expects them).
    """
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"照片压缩包无法打开，请上传 .zip 文件 ({exc})") from None
    with archive:
        infos = [
            i
            for i in archive.infolist()
            if not i.is_dir() and not any(j in i.filename for j in _JUNK)
        ]
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"照片压缩包中的文件过多（{len(infos)} 个，上限 {MAX_ENTRIES}）")
        declared = sum(i.file_size for i in infos)
        if declared > max_total_bytes:
            raise ArchiveError(
                f"照片压缩包解压后共 {declared / 1e9:.1f} GB，超过上限 "
                f"{max_total_bytes / 1e9:.1f} GB，疑似压缩炸弹，未解压任何文件 (zip bomb)"
            )
        problems: list[FileProblem] = []
        safe = []
        for info in infos:
            if _unsafe(info.filename) or stat.S_ISLNK(info.external_attr >> 16):
                problems.append(
                    FileProblem(
                        info.filename,
                        "unsafe_path",
                        "文件名含有 ../、绝对路径或链接，可能写到照片文件夹之外，已拒绝",
                    )
                )
            else:
                safe.append(info)
        root = _common_root([i.filename for i in safe])
        dest.mkdir(parents=True, exist_ok=False)
        base = dest.resolve()
        seen: set[str] = set()
        files: list[str] = []
        written_total = 0
        for info in safe:
            rel = posixpath.normpath(info.filename[len(root) :])
            parts = rel.split("/")
            if len(parts) > 2:
                problems.append(
                    FileProblem(
                        info.filename,
                        "too_deep",
                        "文件夹层级过深：照片请放在压缩包根目录（编号.jpg）或「编号/」文件夹中",
                    )
                )
                continue
            if Path(rel).suffix.lower() not in IMAGE_SUFFIXES or parts[-1].startswith("."):
                problems.append(
                    FileProblem(
                        info.filename, "not_image", "不是图片文件（支持 .jpg .png .webp .bmp）"
                    )
                )
                continue
            if info.file_size > max_file_bytes:
                problems.append(
                    FileProblem(
                        info.filename,
                        "too_large",
                        f"图片过大（{info.file_size / 1e6:.1f} MB，"
                        f"上限 {max_file_bytes / 1e6:.0f} MB）",
                    )
                )
                continue
            key = rel.casefold()
            if key in seen:
                problems.append(
                    FileProblem(info.filename, "duplicate_name", "压缩包中有同名文件，只用了第一个")
                )
                continue
            seen.add(key)
            target = (base / rel).resolve()
            if not target.is_relative_to(base):  # belt and braces after the name checks
                problems.append(FileProblem(info.filename, "unsafe_path", "路径不安全，已拒绝"))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            too_big = False
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > max_file_bytes or written_total + written > max_total_bytes:
                            too_big = True
                            break
                        out.write(chunk)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error):
                target.unlink(missing_ok=True)
                problems.append(FileProblem(info.filename, "corrupt", "文件已损坏或加密，无法解压"))
                continue
            if too_big:
                target.unlink(missing_ok=True)
                problems.append(
                    FileProblem(info.filename, "too_large", "解压后大小超过上限，已拒绝")
                )
                continue
            written_total += written
            files.append(rel)
    return Unpacked(dest, files, problems)
