"""Unpacking archives that cannot be trusted: traversal, links, bombs and counts are refused and a
refused archive leaves nothing behind."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from translate.archive import ArchiveError, unpack
from translate.download import DownloadError


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return path


def left_behind(folder: Path, archive: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p != archive)


REFERENCE_LAYOUT = {"horse2zebra/trainA/1.jpg": b"a1", "horse2zebra/trainB/1.jpg": b"b1",
                    "horse2zebra/testA/2.jpg": b"a2", "horse2zebra/testB/2.jpg": b"b2"}


def test_a_zip_in_the_reference_layout_is_unpacked(tmp_path):
    archive = make_zip(tmp_path / "horse2zebra.zip", {"horse2zebra/": b"", **REFERENCE_LAYOUT})
    files = unpack(archive, tmp_path / "sets")
    assert sorted(str(f.relative_to(tmp_path / "sets")) for f in files) == sorted(REFERENCE_LAYOUT)
    assert (tmp_path / "sets/horse2zebra/trainA/1.jpg").read_bytes() == b"a1"
    assert left_behind(tmp_path, archive) == ["sets", *sorted(
        {"sets/horse2zebra", "sets/horse2zebra/trainA", "sets/horse2zebra/trainB", "sets/horse2zebra/testA",
         "sets/horse2zebra/testB"} | {f"sets/{name}" for name in REFERENCE_LAYOUT})]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_archives_are_unpacked_whatever_their_compression(tmp_path, mode):
    archive = make_tar(tmp_path / "set.tar.x", [("set/a/1.png", b"one"), ("set/b/2.png", b"two")], mode)
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out/set/b/2.png").read_bytes() == b"two"


def test_a_tar_made_from_inside_its_folder_is_unpacked(tmp_path):
    """`tar -C DIR -czf X .` writes the folder itself first, as './': the target, not a refusal."""
    root = tarfile.TarInfo("./")
    root.type = tarfile.DIRTYPE
    archive = make_tar(tmp_path / "set.tgz", [root, ("./a/1.png", b"one"), ("./b/2.png", b"two")])
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out/a/1.png").read_bytes() == b"one" and (tmp_path / "out/b/2.png").read_bytes() == b"two"


def test_a_file_member_with_no_name_is_still_refused(tmp_path):
    archive = make_tar(tmp_path / "set.tgz", [("./", b"data")])
    with pytest.raises(ArchiveError, match="empty name"):
        unpack(archive, tmp_path / "out")


@pytest.mark.parametrize("name", ["../evil.txt", "ok/../../evil.txt", "..\\evil.txt", "/tmp/evil.txt", "C:/evil.txt"])
def test_zip_members_escaping_the_target_are_refused_leaving_nothing(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", {"good.txt": b"fine", name: b"evil"})
    with pytest.raises(ArchiveError) as excinfo:
        unpack(archive, tmp_path / "out")
    message = str(excinfo.value)
    assert "\n" not in message and "bad.zip" in message and repr(name) in message
    assert left_behind(tmp_path, archive) == []


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt"])
def test_tar_members_escaping_the_target_are_refused(tmp_path, name):
    archive = make_tar(tmp_path / "bad.tar.gz", [("good.txt", b"fine"), (name, b"evil")])
    with pytest.raises(ArchiveError, match="bad.tar.gz"):
        unpack(archive, tmp_path / "out")
    assert left_behind(tmp_path, archive) == []


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_tar_links_and_devices_are_refused(tmp_path, kind):
    link = tarfile.TarInfo("set/link")
    link.type, link.linkname = kind, "/etc/passwd"
    archive = make_tar(tmp_path / "links.tar", [("set/a.png", b"x"), link], "w")
    with pytest.raises(ArchiveError, match="'set/link' is a link or device"):
        unpack(archive, tmp_path / "out")
    assert left_behind(tmp_path, archive) == []


def test_zip_symlinks_are_refused(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        info = zipfile.ZipInfo("set/link")
        info.external_attr = (0o120777 << 16)  # S_IFLNK: how zip tools store a symlink
        handle.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="is a link or device"):
        unpack(archive, tmp_path / "out")
    assert left_behind(tmp_path, archive) == []


def test_a_zip_bomb_is_refused_by_the_bytes_actually_written(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(50_000_000)})
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="more than 4,000,000 bytes"):
        unpack(archive, tmp_path / "out", max_bytes=4_000_000)
    with pytest.raises(ArchiveError, match="decompression bomb"):  # the default size cap is far away
        unpack(archive, tmp_path / "out")
    assert left_behind(tmp_path, archive) == []


def test_a_gzip_tar_bomb_is_refused(tmp_path):
    archive = make_tar(tmp_path / "bomb.tgz", [("zeros.bin", bytes(30_000_000))])
    with pytest.raises(ArchiveError, match="decompression bomb"):
        unpack(archive, tmp_path / "out")
    assert left_behind(tmp_path, archive) == []


def test_too_many_files_are_refused_before_any_is_written(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(20)})
    with pytest.raises(ArchiveError, match="20 entries, more than the 10 allowed"):
        unpack(archive, tmp_path / "out", max_files=10)
    assert left_behind(tmp_path, archive) == []


def test_a_member_seen_twice_is_refused(tmp_path):
    archive = make_tar(tmp_path / "twice.tar", [("a.txt", b"1"), ("./a.txt", b"2")], "w")
    with pytest.raises(ArchiveError, match="appears twice"):
        unpack(archive, tmp_path / "out")
    assert left_behind(tmp_path, archive) == []


def test_damaged_or_foreign_files_and_an_existing_target(tmp_path):
    not_archive = tmp_path / "x.zip"
    not_archive.write_bytes(b"<html>404</html>")
    with pytest.raises(DownloadError, match="not a zip or tar archive"):
        unpack(not_archive, tmp_path / "out")
    archive = make_zip(tmp_path / "ok.zip", {"a.txt": b"new"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out/old.txt").write_text("old")
    with pytest.raises(ArchiveError, match="already exists"):
        unpack(archive, tmp_path / "out")
    unpack(archive, tmp_path / "out", replace=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.zip", "out", "x.zip"]
