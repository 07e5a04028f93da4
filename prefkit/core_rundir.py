"""Who owns a run directory, and durable files in it.

A run writes its directory under a lock (``run.lock``, an exclusive ``flock``), so a second trainer pointed at
the same ``--run-dir`` fails at once instead of interleaving its metrics with the first. The lock is released
when the run's training loop ends, and by the operating system when the process dies, so a crash never leaves
a directory locked.

``fsync_tree`` makes a folder's files durable before it is renamed into place: a rename is atomic, but
without the fsync a power cut can leave the renamed folder holding empty files.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: the lock file is created exclusively instead
    fcntl = None

LOCK = "run.lock"


class RunDirError(RuntimeError):
    """A run directory that this run may not use (locked by another run, or already holding a run)."""


class _Claim:
    def __init__(self, path: Path, fd: int | None, created: bool):
        self.path, self.fd, self.created = path, fd, created


_CLAIMS: dict[str, _Claim] = {}  # run directories this process holds (or created), by resolved path
_CREATED: dict[str, Path] = {}  # run directories this process created and has released, by resolved path


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a folder's entries (new names, renames) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike) -> None:
    """fsync every file under ``path``, then every folder (deepest first)."""
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(root)


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text().strip()
    except OSError:
        return "another process"
    return text or "another process"


def acquire(path: str | os.PathLike, created: bool = False) -> None:
    """Lock run directory ``path`` for this process; ``RunDirError`` at once when another run holds it.

    ``created``: this process just made the folder (it may be removed again if the run never starts).
    Calling it again from the same process (a notebook re-running a cell) takes the lock over.
    """
    path = Path(path)
    key = str(path.resolve())
    created = created or _CREATED.pop(key, None) is not None
    if key in _CLAIMS:
        created = created or _CLAIMS[key].created
        release(path)
    lock = path / LOCK
    me = f"pid {os.getpid()} on {socket.gethostname()}"
    while True:
        if fcntl is None:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                raise RunDirError(f"{path} is in use by {_holder(lock)} (lock file {lock}); wait for that run to "
                                  f"end, or give this run another --run-dir. If no run is using it, delete "
                                  f"{lock}") from None
            break
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunDirError(f"{path} is in use by {_holder(lock)}, which is still writing it; wait for that run "
                              f"to end, or give this run another --run-dir") from None
        try:  # the holder may have released and removed the file between our open and our flock: retry
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, me.encode())
    _CLAIMS[key] = _Claim(path, fd, created)


def release(path: str | os.PathLike) -> None:
    """Unlock run directory ``path`` if this process holds it (the lock file is removed)."""
    key = str(Path(path).resolve())
    claim = _CLAIMS.pop(key, None)
    if claim is not None and claim.created:  # a run that fails in its loop releases first: discard_unstarted
        _CREATED[key] = claim.path           # must still find the directory it created
    if claim is None or claim.fd is None:
        return
    try:
        os.unlink(claim.path / LOCK)  # while still locked, so no other process can hold this very file
    except FileNotFoundError:
        pass
    os.close(claim.fd)


def started(path: str | os.PathLike) -> bool:
    """Whether a run directory holds any result: a metrics row or a checkpoint."""
    path = Path(path)
    metrics = path / "metrics.jsonl"
    return (metrics.exists() and metrics.stat().st_size > 0) or any(p.name in ("checkpoint", ".checkpoint-old")
                                                                      for p in path.iterdir())


def forget_released() -> None:
    """Forget the run directories released so far: a new command starts here (``discard_unstarted`` must never
    remove a directory that an earlier run in the same process created)."""
    _CREATED.clear()


def discard_unstarted() -> list[Path]:
    """Remove the run directories this process created whose run never started (no metrics, no checkpoint).

    The command line calls it when a run fails before its first step, so a failed start leaves no orphan
    directory behind. Directories the run was pointed at (``--run-dir`` that existed) are kept.
    """
    removed = []
    for key, claim in list(_CLAIMS.items()):
        release(claim.path)
    for key, path in list(_CREATED.items()):
        del _CREATED[key]
        if path.is_dir() and not started(path) and key not in _CLAIMS:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


__all__ = ["RunDirError", "LOCK", "acquire", "release", "started", "discard_unstarted", "fsync_dir", "fsync_tree"]
