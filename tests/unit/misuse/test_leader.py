"""The SQLite leader lock: one holder per database file, across processes (flock is per open file, so two
locks in one process exclude each other just as two processes do), free again once released."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateway.misuse.leader import FileLock, SoleProcess, leader_lock
from gateway.store import Database


async def test_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "db.misuse-leader"), FileLock(tmp_path / "db.misuse-leader")
    assert await first.hold()
    assert await first.hold()  # still held
    assert not await second.hold()
    await first.release()
    assert await second.hold()
    await second.release()


async def test_a_process_that_ends_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.misuse-leader"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import fcntl, os, sys\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"held"
    lock = FileLock(path)
    assert not await lock.hold()
    holder.kill()  # as kill -9 would: the kernel drops the lock with the process
    await holder.wait()
    assert await lock.hold()
    await lock.release()


async def test_which_lock_for_which_database(tmp_path: Path) -> None:
    on_file = Database(f"sqlite+aiosqlite:///{tmp_path / 'hedui.db'}")
    in_memory = Database("sqlite+aiosqlite://")
    try:
        assert isinstance(leader_lock(on_file), FileLock)
        assert isinstance(leader_lock(in_memory), SoleProcess)
    finally:
        await on_file.dispose()
        await in_memory.dispose()
