"""Background jobs: long work runs in an RQ worker, never in a web request.

Why RQ on Redis: the jobs are plain Python functions of this code base (coverage
computations, cohort solver), RQ runs each in a forked process with a hard timeout, keeps
the state, the progress (``job.meta``) and the result where every web process reads them,
and needs no broker configuration; Redis also holds the rate limit counters
(Flask-Limiter), so one service serves both. Celery would bring a broker and a result
backend to configure for the same features; procrastinate (on PostgreSQL) would make the
queue fail with the database, when the queue is what tells users the database is down.

Guarantees:
- **Cached by inputs**: the job id is a digest of the job's kind and parameters; the same
  request finds the queued, running or finished job instead of starting another.
- **Late acknowledgement**: a job stays in RQ's started registry until it ends. A worker
  killed mid-job leaves it there; :func:`requeue_abandoned` (run when a worker starts and at
  each maintenance) puts it back in the queue once its worker is known dead, and RQ's own
  clean-up requeues it after the heartbeat expires (``Retry``) on another machine.
- **Idempotent jobs**: a job computes from its inputs and writes in one transaction
  (coverage refresh replaces its run), so running it twice is harmless.
- Each job runs in an application context, with the batch statement timeout (a kind
  declared without database, such as sending an e-mail, does not touch PostgreSQL).
- **Two queues, two processes**: long work (coverage, suggestions, cohorts) runs in a
  work horse forked per job, which RQ kills when it exceeds its timeout. Short kinds
  declared ``quick`` (e-mails) have their own queue, served by a second process of
  ``flask jobs worker`` that runs them in itself (:class:`QuickWorker`, no fork; the
  timeout is an alarm signal): forking per message cost more than sending it, and an
  e-mail never waits behind an hour of coverage computation. The quick process keeps
  its resources across a burst (an SMTP connection, :func:`on_idle` closes it when its
  queue is empty). Both have the same late acknowledgement and requeueing.
- **Periodic work without cron**: a kind declared with :func:`every` is put in the queue
  once per period by the scheduler of ``flask jobs worker`` (:class:`PeriodicEnqueuer`, a
  thread of the worker). The period's job has a deterministic id, and a claim per kind
  and period in Redis (``SET NX``) makes any number of workers enqueue it once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app, has_app_context, jsonify, url_for
from rq import Queue, Retry, SimpleWorker, Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from . import clock
from .errors import NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

# French labels of RQ's states, shown by the API and the CLI.
STATE_LABELS = {
    JobStatus.QUEUED: "en attente",
    JobStatus.STARTED: "en cours",
    JobStatus.FINISHED: "terminée",
    JobStatus.FAILED: "échouée",
    JobStatus.DEFERRED: "différée",
    JobStatus.SCHEDULED: "planifiée",
    JobStatus.STOPPED: "arrêtée",
    JobStatus.CANCELED: "annulée",
}
ACTIVE_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


@dataclass(frozen=True)
class JobKind:
    """A kind of job: ``function(params) -> result`` named by its dotted path, so that the
    worker imports it; ``label`` is what users read."""

    name: str
    function: str
    label: str
    database: bool = True
    retry_intervals: tuple[int, ...] = ()
    quick: bool = False


_KINDS: dict[str, JobKind] = {}


def register(name: str, function: Callable[[dict], Any], label: str, *,
             database: bool = True, retry_intervals: tuple[int, ...] = (),
             quick: bool = False) -> None:
    """Declare a kind of job (called from a package's ``init_app``). ``database=False``:
    the job never reads PostgreSQL (it runs even when the database is down);
    ``retry_intervals``: seconds to wait before each retry after a failure (the worker's
    scheduler puts the job back), else retries are immediate; ``quick``: a job of
    seconds, run in the quick queue's process without a fork (see the module's
    docstring)."""
    _KINDS[name] = JobKind(name, f"{function.__module__}.{function.__qualname__}", label,
                           database, tuple(retry_intervals), quick)


def kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


# --------------------------------------------------------------------------- connection

def connection(app: Flask | None = None) -> redis.Redis:
    """The application's Redis connection (one pool per process)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.setdefault("passerelle_jobs", {})
    pid = os.getpid()
    if state.get("pid") != pid:  # a forked process makes its own pool
        state["redis"] = redis.Redis.from_url(
            app.config["PASSERELLE_REDIS_URL"], socket_connect_timeout=2, socket_timeout=10,
            health_check_interval=30)
        state["pid"] = pid
    return state["redis"]


def queue(app: Flask | None = None, *, quick: bool = False) -> Queue:
    """The queue of long jobs, or with ``quick`` the queue of quick ones."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    name = app.config["PASSERELLE_JOBS_NAMESPACE"] + ("-quick" if quick else "")
    return Queue(name, connection=connection(app),
                 default_timeout=app.config["PASSERELLE_JOB_TIMEOUT_S"])


def queues(app: Flask | None = None) -> list[Queue]:
    """Both queues: long jobs, quick jobs."""
    return [queue(app), queue(app, quick=True)]


def job_id(kind: str, params: dict[str, Any]) -> str:
    """The deterministic id of a job: namespace, kind and a digest of the parameters."""
    canonical = json.dumps({"kind": kind, "params": params}, sort_keys=True, default=str,
                           ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    namespace = current_app.config["PASSERELLE_JOBS_NAMESPACE"]
    return f"{namespace}-{kind.replace('.', '_')}-{digest}"


def _unavailable(exc: Exception) -> ServiceUnavailable:
    log.warning("file des tâches injoignable : %s", exc.__class__.__name__)
    return ServiceUnavailable("La file des tâches de fond est momentanément indisponible ; "
                              "réessayez dans quelques instants.")


# --------------------------------------------------------------------------- enqueue

def enqueue(kind: str, params: dict[str, Any], *, result_url: str | None = None,
            key: Any = None, show_result: bool = True) -> Job:
    """The job computing ``kind`` for ``params``: the existing one when the same inputs
    are queued, running or finished (its result is reused), else a new one. ``key``, when
    given, names the job instead of ``params`` (an event whose parameters carry something
    fresh each time, such as an e-mail with a new link). ``show_result=False``: the job's
    state omits the result (a page, a file), which only ``result_url`` serves."""
    if kind not in _KINDS:
        raise KeyError(f"tâche inconnue : {kind}")
    config = current_app.config
    identifier = job_id(kind, params if key is None else {"cle": key})
    try:
        conn = connection()
        job = _fetch(identifier, conn)
        if job is not None and job.get_status() in ACTIVE_STATES | {JobStatus.FINISHED}:
            return job
        # One enqueue per id even when two requests race (the lock lives 10 s at most).
        lock = conn.lock(f"{config['PASSERELLE_JOBS_NAMESPACE']}:enqueue:{identifier}",
                         timeout=10, blocking_timeout=5)
        with lock:
            job = _fetch(identifier, conn)
            if job is not None and job.get_status() in ACTIVE_STATES | {JobStatus.FINISHED}:
                return job
            if job is not None:  # failed, stopped or canceled: start afresh
                job.delete()
            retries = config["PASSERELLE_JOB_RETRIES"]
            intervals = list(_KINDS[kind].retry_intervals) or 0
            extra = {} if _KINDS[kind].database else {"database": False}
            return queue(quick=_KINDS[kind].quick).enqueue(
                execute, _KINDS[kind].function, params, **extra, job_id=identifier,
                description=_KINDS[kind].label,
                result_ttl=config["PASSERELLE_JOB_RESULT_TTL_S"],
                failure_ttl=config["PASSERELLE_JOB_RESULT_TTL_S"],
                retry=Retry(max=retries, interval=intervals) if retries > 0 else None,
                meta={"kind": kind, "label": _KINDS[kind].label, "result_url": result_url,
                      "progress": None, "show_result": show_result})
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc


def _fetch(identifier: str, conn: redis.Redis) -> Job | None:
    try:
        return Job.fetch(identifier, connection=conn)
    except NoSuchJobError:
        return None


def get(identifier: str) -> Job:
    """The job ``identifier`` of this application, or NotFound (French)."""
    namespace = current_app.config["PASSERELLE_JOBS_NAMESPACE"]
    try:
        job = _fetch(identifier, connection()) if identifier.startswith(namespace + "-") \
            else None
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc
    if job is None:
        raise NotFound(f"Tâche « {identifier} » introuvable : elle n'a jamais existé ou son "
                       "résultat a expiré ; relancez la demande.")
    return job


# --------------------------------------------------------------------------- in the worker

_engine_pid: int | None = None


def execute(function: str, params: dict[str, Any], database: bool = True) -> Any:
    """Run a job function in an application context (the RQ entry point of every job)."""
    module_name, _, name = function.rpartition(".")
    target = getattr(importlib.import_module(module_name), name)
    if has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    elif _worker_app is not None:
        app = _worker_app
    else:
        raise RuntimeError("Tâche hors application : lancez les processus de fond par "
                           "« flask --app app jobs worker ».")
    from sqlalchemy import text

    from extensions import db

    with app.app_context():
        if not database:
            return target(params)
        global _engine_pid
        if _engine_pid != os.getpid():
            # A forked process (a work horse, the quick worker) never shares its parent's
            # pooled connections: it drops them without closing them, then makes its own.
            db.engine.dispose(close=False)
            _engine_pid = os.getpid()
        try:
            db.session.execute(text("SELECT set_config('statement_timeout', :ms, false)"),
                               {"ms": str(app.config["PASSERELLE_JOB_STATEMENT_TIMEOUT_MS"])})
            return target(params)
        finally:
            db.session.remove()


def progress(done: int, total: int, message: str = "") -> None:
    """Report a job's progress (shown by the API and ``jobs list``); no-op outside a job."""
    job = get_current_job()
    if job is None:
        return
    job.meta["progress"] = {"done": done, "total": total, "message": message}
    job.save_meta()


# --------------------------------------------------------------------------- abandoned jobs

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_dead(name: str | None, conn: redis.Redis) -> bool:
    """True when the worker ``name`` is known dead: gone from Redis, marked dead, or a
    process of this machine that no longer exists."""
    if not name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=conn)
    if worker is None or worker.death_date is not None:
        return True
    return worker.hostname == socket.gethostname() and worker.pid is not None \
        and not _pid_alive(worker.pid)


def requeue_abandoned(q: Queue) -> list[str]:
    """Put back in the queue the started jobs whose worker died; return their ids."""
    conn = q.connection
    registry = StartedJobRegistry(queue=q)
    requeued = []
    for identifier in registry.get_job_ids(cleanup=False):
        job = _fetch(identifier, conn)
        if job is None:
            continue
        if not _worker_dead(job.worker_name, conn):
            continue
        with conn.pipeline() as pipe:
            registry.remove_executions(job, pipeline=pipe)
            pipe.execute()
        job.started_at = None
        job.worker_name = None
        job.save()
        q.enqueue_job(job)
        requeued.append(job.id)
        log.warning("tâche %s reprise : son processus de fond a disparu", job.id)
    return requeued


class _RequeueAtMaintenance:
    """A worker that also requeues abandoned jobs at its maintenance."""

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[misc]
        for q in self.queues:  # type: ignore[attr-defined]
            requeue_abandoned(q)


class PasserelleWorker(_RequeueAtMaintenance, Worker):
    """RQ's forking worker: a work horse per job, killed when it exceeds its timeout."""


# Called with the application by the quick worker when its queue is empty (end of a burst).
_IDLE_HOOKS: list[Callable[[Flask], None]] = []


def on_idle(hook: Callable[[Flask], None]) -> None:
    """Register ``hook(app)``: release what the quick worker kept across a burst."""
    if hook not in _IDLE_HOOKS:
        _IDLE_HOOKS.append(hook)


def in_quick_worker() -> bool:
    """True in the quick worker's process (jobs run there one after another, no fork)."""
    return _quick_pid == os.getpid()


class QuickWorker(_RequeueAtMaintenance, SimpleWorker):
    """The quick queue's worker: each job runs in this process (RQ's ``SimpleWorker``:
    no fork; the job's timeout is an alarm signal), and the idle hooks run when the queue
    is empty, before waiting for the next job."""

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):  # type: ignore[override]
        if _worker_app is not None and not any(q.count for q in self.queues):
            for hook in _IDLE_HOOKS:
                try:
                    hook(_worker_app)
                except Exception:
                    log.exception("processus de fond rapide : erreur à la libération")
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)


_worker_app: Flask | None = None
_quick_pid: int | None = None


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_quick_worker(app: Flask, *, burst: bool, name: str | None) -> int:
    """Fork the quick queue's worker (the application is created once, in the parent);
    return its pid."""
    global _quick_pid
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _die_with_parent()
        _quick_pid = os.getpid()
        q = queue(app, quick=True)
        requeue_abandoned(q)
        worker = QuickWorker([q], connection=connection(app),
                             name=f"{name}-rapide" if name else None, maintenance_interval=60)
        worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
        code = 0
    except BaseException:
        log.exception("processus de fond rapide arrêté sur une erreur")
    finally:
        os._exit(code)  # never return into the parent's command


def _stop_quick_worker(pid: int, *, burst: bool) -> None:
    if not burst:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # warm stop: ends the job in progress
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def start_worker(app: Flask, *, burst: bool = False, name: str | None = None,
                 schedule: bool | None = None) -> bool:
    """Work both queues (until stopped, or until they are empty with ``burst``): this
    process serves the long jobs and forks the quick queue's worker. Unless in burst
    mode, the workers also run RQ's scheduler (retries after a delay) and, when
    ``schedule`` (default: ``PASSERELLE_SCHEDULER``), this process the periodic work
    (:func:`every`)."""
    global _worker_app
    _worker_app = app
    q = queue(app)
    requeue_abandoned(q)
    quick_pid = _start_quick_worker(app, burst=burst, name=name)
    try:
        worker = PasserelleWorker([q], connection=connection(app), name=name,
                                  maintenance_interval=60)
        if schedule is None:
            schedule = app.config["PASSERELLE_SCHEDULER"]
        enqueuer = PeriodicEnqueuer(app) if schedule and not burst and _PERIODIC else None
        if enqueuer is not None:
            enqueuer.start()
        try:
            return worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
        finally:
            if enqueuer is not None:
                enqueuer.stop()
    finally:
        _stop_quick_worker(quick_pid, burst=burst)


# --------------------------------------------------------------------------- periodic work

# kind -> configuration key holding its period in seconds (0: never).
_PERIODIC: dict[str, str] = {}


def every(kind: str, period_setting: str) -> None:
    """Run ``kind`` once per period, the period (seconds) read from the configuration key
    ``period_setting``; the job gets ``{"periode": <start of the period, ISO 8601>}``."""
    if kind not in _KINDS:
        raise KeyError(f"tâche inconnue : {kind}")
    _PERIODIC[kind] = period_setting


def periodic() -> dict[str, str]:
    return dict(_PERIODIC)


def period_start(moment: dt.datetime, period_s: int) -> dt.datetime:
    """The start of the period of ``period_s`` seconds holding ``moment`` (periods are
    aligned on the Unix epoch: an hour starts on the hour, a day at midnight UTC)."""
    seconds = int(moment.timestamp())
    return dt.datetime.fromtimestamp(seconds - seconds % period_s, dt.UTC)


def period_params(kind: str, moment: dt.datetime) -> dict[str, str]:
    period = current_app.config[_PERIODIC[kind]]
    return {"periode": period_start(moment, period).isoformat()}


def enqueue_period(kind: str, moment: dt.datetime) -> tuple[Job | None, bool]:
    """The job of ``kind`` for the period holding ``moment``: ``(job, True)`` when this
    call put it in the queue, ``(job or None, False)`` when another worker (or a command)
    already did — a claim in Redis (``SET NX``, kept two periods) decides, then the job's
    deterministic id."""
    period = current_app.config[_PERIODIC[kind]]
    params = period_params(kind, moment)
    namespace = current_app.config["PASSERELLE_JOBS_NAMESPACE"]
    claim = f"{namespace}:planifiee:{kind}:{params['periode']}"
    try:
        conn = connection()
        if not conn.set(claim, socket.gethostname(), nx=True, ex=max(2 * period, 60)):
            return _fetch(job_id(kind, params), conn), False
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc
    try:
        return enqueue(kind, params), True
    except BaseException:
        with contextlib.suppress(redis.RedisError):
            conn.delete(claim)  # not enqueued: the next attempt claims again
        raise


def enqueue_due(app: Flask, moment: dt.datetime) -> list[Job]:
    """Enqueue the current period's job of every periodic kind not yet enqueued; return
    the jobs this call enqueued."""
    enqueued = []
    with app.app_context():
        for kind, setting in sorted(_PERIODIC.items()):
            if app.config[setting] <= 0:
                continue
            job, mine = enqueue_period(kind, moment)
            if mine and job is not None:
                enqueued.append(job)
    return enqueued


def next_boundary_s(app: Flask, moment: dt.datetime) -> float:
    """Seconds until the next period starts, for the earliest periodic kind."""
    waits = []
    for setting in _PERIODIC.values():
        period = app.config[setting]
        if period > 0:
            start = period_start(moment, period)
            waits.append((start + dt.timedelta(seconds=period) - moment).total_seconds())
    return min(waits, default=60.0)


class PeriodicEnqueuer(threading.Thread):
    """The worker's scheduler: at each period's start (and when the worker starts), put
    the periodic kinds' jobs in the queue. A failure (Redis unreachable, a bug) is logged
    and tried again a few seconds later; it never stops the worker."""

    MAX_SLEEP_S = 60.0
    RETRY_S = 5.0

    def __init__(self, app: Flask) -> None:
        super().__init__(name="passerelle-planificateur", daemon=True)
        self.app = app
        self.stopping = threading.Event()

    def step(self) -> float:
        """Enqueue what is due; return how long to sleep."""
        try:
            moment = clock.now(self.app)
            enqueue_due(self.app, moment)
            # Just after the boundary, so that the clock reads the new period.
            return min(max(next_boundary_s(self.app, moment), 0.0) + 0.05, self.MAX_SLEEP_S)
        except ServiceUnavailable:
            return self.RETRY_S  # logged by _unavailable
        except Exception:
            log.exception("planificateur des tâches périodiques : erreur, nouvel essai dans "
                          "%s s", self.RETRY_S)
            return self.RETRY_S

    def run(self) -> None:
        while not self.stopping.is_set():
            self.stopping.wait(self.step())

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


# --------------------------------------------------------------------------- read-outs

def describe(job: Job) -> dict[str, Any]:
    """The job as the API shows it: state in French, progress, result or error."""
    # State first, then meta: a finished job's meta is then its final progress.
    status = job.get_status(refresh=True) or JobStatus.QUEUED
    meta = job.get_meta(refresh=True) or {}
    body: dict[str, Any] = {
        "id": job.id,
        "kind": meta.get("kind"),
        "label": meta.get("label") or job.description,
        "state": str(status.value if hasattr(status, "value") else status),
        "state_label": STATE_LABELS.get(status, str(status)),
        "progress": meta.get("progress"),
        "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
        "url": url_for("jobs.job_status", job_id=job.id, _external=False),
    }
    if status == JobStatus.FINISHED:
        body["result_url"] = meta.get("result_url")
        if meta.get("show_result", True):
            body["result"] = job.return_value()
    elif status == JobStatus.FAILED:
        body["error"] = _error_message(job)
    return body


def _error_message(job: Job) -> str:
    """A French message for a failed job; the traceback stays in the worker's log."""
    result = job.latest_result()
    text = (result.exc_string if result is not None else "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if "AbandonedJobError" in text or "Moved to FailedJobRegistry" in text:
        return "La tâche a été interrompue (processus de fond arrêté) ; relancez la demande."
    if "JobTimeoutException" in text:
        return "La tâche a dépassé sa durée maximale ; réduisez la demande."
    # Our own errors carry a French message meant for users (``PasserelleError: …``).
    for marker in ("InvalidInput: ", "NotFound: ", "BadRequest: ", "Conflict: "):
        if marker in last:
            return last.split(marker, 1)[1]
    return "La tâche a échoué ; l'équipe a été prévenue. Relancez la demande plus tard."


def accepted(job: Job):
    """The answer of an endpoint that handed its work to ``job``: 202, the job's state and
    its URL in ``Location``."""
    body = describe(job)
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["url"]
    return response


def finished_result(job: Job) -> tuple[bool, Any]:
    """``(True, result)`` when ``job`` already finished (the cached answer)."""
    with contextlib.suppress(redis.RedisError):
        if job.get_status(refresh=False) == JobStatus.FINISHED:
            return True, job.return_value()
    return False, None


def list_jobs(app: Flask, limit: int = 50) -> list[dict[str, Any]]:
    """Recent jobs of every state, newest first (for ``jobs list``)."""
    from rq.registry import (
        CanceledJobRegistry,
        DeferredJobRegistry,
        FailedJobRegistry,
        FinishedJobRegistry,
        ScheduledJobRegistry,
    )

    ids: list[str] = []
    for q in queues(app):
        ids += q.get_job_ids()
        ids += StartedJobRegistry(queue=q).get_job_ids(cleanup=False)
        for registry_class in (FinishedJobRegistry, FailedJobRegistry, DeferredJobRegistry,
                               ScheduledJobRegistry, CanceledJobRegistry):
            ids += registry_class(queue=q).get_job_ids(desc=True)
    seen: dict[str, Job] = {}
    for job in Job.fetch_many(list(dict.fromkeys(ids)), connection=connection(app)):
        if job is not None:
            seen[job.id] = job
    jobs = sorted(seen.values(), key=lambda j: j.enqueued_at or j.created_at, reverse=True)
    rows = []
    for job in jobs[:limit]:
        status = job.get_status(refresh=False)
        meta = job.meta or {}
        rows.append({"id": job.id, "label": meta.get("label") or job.description,
                     "state": STATE_LABELS.get(status, str(status)),
                     "progress": meta.get("progress"),
                     "enqueued_at": job.enqueued_at})
    return rows


def health(app: Flask) -> dict[str, Any]:
    """State of the queue and of its workers, for ``/sante``."""
    try:
        waiting, alive = 0, []
        for q in queues(app):  # long jobs, then quick ones: each needs its worker
            waiting += q.count
            alive.append([w for w in Worker.all(queue=q)
                          if not _worker_dead(w.name, q.connection)])
    except redis.RedisError as exc:
        return {"queue": {"ok": False, "message": "Redis injoignable "
                                                  f"({exc.__class__.__name__})."},
                "worker": {"ok": False, "message": "État inconnu : Redis injoignable."}}
    long_alive, quick_alive = alive
    message = None
    if not long_alive:
        message = "Aucun processus de fond : lancez « flask --app app jobs worker »."
    elif not quick_alive:
        message = ("Aucun processus d'envoi des courriels : relancez « flask --app app jobs "
                   "worker ».")
    return {
        "queue": {"ok": True, "waiting": waiting},
        "worker": {"ok": message is None, "count": len(long_alive), "message": message},
    }

