"""The filesystem storage driver: path checks, atomic objects, streaming writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from berth.distribution.storage import FilesystemDriver, PathNotFound
from berth.errors import InvalidArgument


@pytest.mark.parametrize("path", ["relative", "/a/../b", "/a//b", "/./a", "/a/", "/a\x00b", "/.."])
def test_paths_outside_the_grammar_are_refused(tmp_path: Path, path: str) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    with pytest.raises(InvalidArgument):
        asyncio.run(driver.put_content(path, b"x"))
    assert list((tmp_path / "root").iterdir()) == []


def test_objects_and_listing(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)

    async def scenario() -> None:
        await driver.put_content("/d/b", b"2")
        await driver.put_content("/d/a", b"1")
        assert await driver.list("/d") == ["a", "b"]
        assert await driver.get_content("/d/a") == b"1"
        assert (await driver.stat("/d/b")).size == 1 and (await driver.stat("/d")).is_dir
        await driver.move("/d/a", "/e/a")
        assert await driver.get_content("/e/a") == b"1"
        await driver.delete("/d")
        with pytest.raises(PathNotFound):
            await driver.list("/d")
        with pytest.raises(PathNotFound):
            await driver.get_content("/d/b")

    asyncio.run(scenario())


def test_writer_is_invisible_until_commit_and_append_resumes(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)

    async def scenario() -> None:
        writer = await driver.writer("/up/data")
        await writer.write(b"abc")
        await writer.close()
        with pytest.raises(PathNotFound):
            await driver.stat("/up/data")
        writer = await driver.writer("/up/data", append=True)
        assert writer.size == 3
        await writer.write(b"def")
        await writer.commit()
        assert await driver.get_content("/up/data") == b"abcdef"
        assert b"".join([c async for c in driver.reader("/up/data", 2)]) == b"cdef"
        assert b"".join([c async for c in driver.reader("/up/data", 1, 3)]) == b"bcd"
        cancelled = await driver.writer("/up/other")
        await cancelled.write(b"x")
        await cancelled.cancel()
        assert await driver.list("/up") == ["data"]

    asyncio.run(scenario())
