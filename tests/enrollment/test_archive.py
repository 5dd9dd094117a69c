"""The photo ZIP of the browser import: every bad entry is refused by name, nothing is ever
written outside the target folder, and a bomb is refused before a byte is extracted."""

from __future__ import annotations

import io
import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from enrollment.archive import ArchiveError, unpack_photos

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 100


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries:
            z.writestr(name, data)
    return path


def _everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_bad_entries_are_refused_one_by_one(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "photos.zip",
        [
            ("001.jpg", JPEG),
            ("002_2.PNG", JPEG),
            ("003/front.jpg", JPEG),
            ("../evil.jpg", JPEG),
            ("/etc/cron.d/evil.jpg", JPEG),
            ("C:/Windows/evil.jpg", JPEG),
            ("a\\..\\..\\evil.jpg", JPEG),
            ("deep/er/004.jpg", JPEG),
            ("说明.txt", b"hello"),
            ("script.sh", b"rm -rf /"),
            ("__MACOSX/._001.jpg", b"junk"),
            ("big.jpg", b"\xff" * 5_000),
        ],
    )
    with zipfile.ZipFile(archive, "a") as z:  # a second entry with the same name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate: that is the test
            z.writestr(zipfile.ZipInfo("001.jpg"), b"\xff\xd8 another")
        link = zipfile.ZipInfo("005.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16  # a symlink to /etc/passwd
        z.writestr(link, "/etc/passwd")
    dest = tmp_path / "data" / "imports" / "job" / "photos"
    out = unpack_photos(archive, dest, max_file_bytes=1_000, max_total_bytes=1_000_000)
    assert sorted(out.files) == ["001.jpg", "002_2.PNG", "003/front.jpg"]
    reasons = {p.name: p.reason for p in out.problems}
    assert reasons == {
        "../evil.jpg": "unsafe_path",
        "/etc/cron.d/evil.jpg": "unsafe_path",
        "C:/Windows/evil.jpg": "unsafe_path",
        "a\\..\\..\\evil.jpg": "unsafe_path",
        "005.jpg": "unsafe_path",
        "deep/er/004.jpg": "too_deep",
        "说明.txt": "not_image",
        "script.sh": "not_image",
        "big.jpg": "too_large",
        "001.jpg": "duplicate_name",
    }
    assert all(p.message for p in out.problems)  # each with a sentence for the clerk
    # nothing outside the target folder; the first 001.jpg kept
    assert _everything_under(tmp_path) - {"photos.zip"} == {
        f"data/imports/job/photos/{f}" for f in out.files
    }
    assert (dest / "001.jpg").read_bytes() == JPEG
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_a_wrapper_folder_is_looked_through(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "p.zip", [("照片/001.jpg", JPEG), ("照片/002/a.jpg", JPEG)])
    out = unpack_photos(archive, tmp_path / "out", max_file_bytes=10_000, max_total_bytes=10**6)
    assert sorted(out.files) == ["001.jpg", "002/a.jpg"] and out.problems == []


@pytest.mark.slow
def test_a_zip_bomb_is_refused_before_anything_is_extracted(tmp_path: Path) -> None:
    """A 2 GB entry (zeros, about 9 MB packed) declared in the directory: refused by size."""
    bomb = tmp_path / "bomb.zip"
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("001.jpg", "w", force_zip64=True) as f:
            for _ in range(2048):
                f.write(zeros)
    assert bomb.stat().st_size < 12_000_000
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="压缩炸弹"):
        unpack_photos(bomb, dest, max_file_bytes=20_000_000, max_total_bytes=1_000_000_000)
    assert not dest.exists()


def test_an_entry_that_lies_about_its_size_writes_no_more_than_allowed(tmp_path: Path) -> None:
    """The directory says 100 bytes; the data inflates to 1 MB: zipfile stops at the declared
    size and the CRC check fails; the entry is dropped as corrupt, nothing beyond is written."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("001.jpg", bytes(1 << 20))
    data = bytearray(buf.getvalue())
    size = (1 << 20).to_bytes(4, "little")
    small = (100).to_bytes(4, "little")
    for at in [i for i in range(len(data)) if data[i : i + 4] == size]:
        data[at : at + 4] = small  # uncompressed size, in the local and central headers
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(data))
    out = unpack_photos(liar, tmp_path / "out", max_file_bytes=10_000, max_total_bytes=10**6)
    assert out.files == [] and [p.reason for p in out.problems] == ["corrupt"]
    assert sum(os.path.getsize(p) for p in (tmp_path / "out").rglob("*") if p.is_file()) == 0


def test_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "photos.zip"
    bad.write_bytes(b"this is a rar file really")
    with pytest.raises(ArchiveError, match="无法打开"):
        unpack_photos(bad, tmp_path / "out", max_file_bytes=1, max_total_bytes=1)
