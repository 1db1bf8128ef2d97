"""A real RQ worker in a subprocess (``flask --app app jobs worker``) on the test database
and this test process's queue."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "") -> object:
    """Poll ``condition`` until it returns a true value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"délai dépassé en attendant : {what}")
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def _children(pid: int) -> list[int]:
    """The descendants of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent:
                found.append(child)
                frontier.append(child)
    return found


class WorkerProcess:
    def __init__(self, app, env: dict[str, str] | None = None) -> None:
        self.app = app
        self.env = dict(env or {})
        self.name = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        from rq import Worker

        from core import jobs

        config = self.app.config
        env = dict(os.environ, DATABASE_URL=config["DATABASE_URL"],
                   PASSERELLE_JOBS_NAMESPACE=config["PASSERELLE_JOBS_NAMESPACE"],
                   PASSERELLE_REDIS_URL=config["PASSERELLE_REDIS_URL"],
                   PASSERELLE_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), **self.env)
        # Its own session (process group): killing it kills the job's process too.
        # Its output goes to a file, not a pipe: a pipe nobody reads fills up and blocks
        # a long-lived worker, and an unread pipe left open is a resource leak.
        self.output = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "jobs", "worker", "--name",
             self.name], cwd=ROOT, env=env, start_new_session=True,
            stdout=self.output, stderr=subprocess.STDOUT, text=True)
        q = jobs.queue(self.app)

        def registered():
            if self.process.poll() is not None:
                raise AssertionError("le processus de fond s'est arrêté :\n"
                                     + self.stop())
            return any(w.name == self.name for w in Worker.all(queue=q))

        wait_for(registered, what="l'inscription du processus de fond")
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its job's process (RQ's work horse, in a session of its
        own), as a machine crash or an OOM kill of the container would."""
        pids = [self.process.pid, *_children(self.process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        for pid in pids[1:]:
            wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists()
                     or "Z" in _state(pid), what=f"la fin du processus {pid}")

    def printed(self) -> str:
        """What the worker printed so far (it keeps running)."""
        if self.output.closed:
            return ""
        # pread: the worker shares the file's offset, which must not move under it.
        fd = self.output.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def stop(self) -> str:
        """Stop the worker (if it still runs), reap it and return what it printed."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.output.closed:
            return ""
        self.output.seek(0)
        printed = self.output.read()
        self.output.close()
        return printed
