"""The job queue with a real RQ worker subprocess on Redis and the test database."""

from __future__ import annotations

import uuid

import pytest
from rq.job import JobStatus
from sqlalchemy.engine import make_url

from core import jobs
from tests.core import job_functions
from tests.core.job_worker import WorkerProcess, wait_for


@pytest.fixture(scope="module")
def test_kinds():
    jobs.register("test.stepwise", job_functions.stepwise, "Tâche d'essai par étapes")
    jobs.register("test.failing", job_functions.failing, "Tâche d'essai qui échoue")


@pytest.fixture
def worker(job_worker, test_kinds):
    return job_worker


def _gate() -> str:
    return f"passerelle-test-gate-{uuid.uuid4().hex}"


def _waiting(app, gate: str) -> bool:
    return bool(jobs.connection(app).lpop(gate + ":waiting"))


def test_job_goes_queued_started_finished_with_progress(app, worker):
    gate = _gate()
    params = {"steps": 3, "wait_at": 1, "gate": gate}
    with app.test_request_context():
        job = jobs.enqueue("test.stepwise", params)
        assert job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED)
        wait_for(lambda: _waiting(app, gate), what="la tâche arrêtée à l'étape 2")
        running = jobs.describe(jobs.get(job.id))
        assert running["state"] == "started" and running["state_label"] == "en cours"
        assert running["progress"] == {"done": 1, "total": 3, "message": "étape 2"}
        jobs.connection(app).rpush(gate, "go")
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED,
                 what="la fin de la tâche")
        done = jobs.describe(jobs.get(job.id))
    assert done["state_label"] == "terminée"
    assert done["progress"] == {"done": 3, "total": 3, "message": "terminé"}
    # The job ran in an application context, on the test database, with the batch timeout.
    assert done["result"]["database"] == make_url(app.config["DATABASE_URL"]).database
    assert done["result"]["statement_timeout"] == "30min"


def test_same_inputs_same_job_and_cached_result(app, worker):
    gate = _gate()
    params = {"steps": 2, "wait_at": 0, "gate": gate}
    with app.test_request_context():
        first = jobs.enqueue("test.stepwise", params)
        wait_for(lambda: _waiting(app, gate), what="la tâche en cours")
        again = jobs.enqueue("test.stepwise", dict(reversed(list(params.items()))))
        assert again.id == first.id and again.get_status() == JobStatus.STARTED
        other = jobs.enqueue("test.stepwise", {**params, "steps": 3})
        assert other.id != first.id
        other.cancel()
        jobs.connection(app).rpush(gate, "go")
        wait_for(lambda: first.get_status(refresh=True) == JobStatus.FINISHED,
                 what="la fin de la tâche")
        cached = jobs.enqueue("test.stepwise", params)
        assert cached.id == first.id
        assert jobs.finished_result(cached) == (True, first.return_value())


@pytest.mark.slow  # two workers started (a few seconds each)
def test_killed_worker_job_finishes_on_another(app, test_kinds, no_job_worker):
    gate = _gate()
    from rq import Worker

    assert not Worker.all(queue=jobs.queue(app)), "un autre processus de fond écoute"
    first = WorkerProcess(app).start()
    try:
        with app.test_request_context():
            job = jobs.enqueue("test.stepwise", {"steps": 3, "wait_at": 1, "gate": gate})
            wait_for(lambda: _waiting(app, gate), what="la tâche en cours")
            first.kill()
            assert job.get_status(refresh=True) == JobStatus.STARTED  # left behind
            second = WorkerProcess(app).start()  # requeues the abandoned job at start
            try:
                wait_for(lambda: _waiting(app, gate), what="la tâche reprise")
                assert job.get_status(refresh=True) == JobStatus.STARTED
                jobs.connection(app).rpush(gate, "go")
                wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED,
                         what="la fin de la tâche reprise")
                assert job.return_value()["steps"] == 3
            finally:
                output = second.stop()
            assert "1 tâche(s) abandonnée(s) remise(s) en file." in output
    finally:
        first.stop()


def test_long_job_is_killed_at_its_timeout_and_the_worker_goes_on(app, worker):
    gate = _gate()
    timeout = app.config["PASSERELLE_JOB_TIMEOUT_S"]
    app.config["PASSERELLE_JOB_TIMEOUT_S"] = 2  # the gate never opens: the job hangs
    try:
        with app.test_request_context():
            job = jobs.enqueue("test.stepwise", {"steps": 2, "wait_at": 0, "gate": gate})
    finally:
        app.config["PASSERELLE_JOB_TIMEOUT_S"] = timeout
    assert job.origin == app.config["PASSERELLE_JOBS_NAMESPACE"]  # the forking worker's queue
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FAILED, what="l'arrêt")
    with app.test_request_context():
        assert jobs.describe(job)["error"] == ("La tâche a dépassé sa durée maximale ; "
                                               "réduisez la demande.")
        after = jobs.enqueue("test.stepwise", {"steps": 1, "gate": gate})
    wait_for(lambda: after.get_status(refresh=True) == JobStatus.FINISHED,
             what="la tâche suivante")


def test_failed_job_reports_french_error_through_api(app, worker, client):
    with app.test_request_context():
        job = jobs.enqueue("test.failing", {"within": "dep:00"})
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FAILED, what="l'échec")
    body = client.get(f"/api/v1/jobs/{job.id}").get_json()
    assert body["state"] == "failed" and body["state_label"] == "échouée"
    assert body["error"] == "Territoire inconnu : dep:00."
    assert "Traceback" not in str(body)


def test_unknown_job_is_french_404(client):
    response = client.get("/api/v1/jobs/passerelle-inconnu")
    assert response.status_code == 404
    assert "introuvable" in response.get_json()["message"]


def test_jobs_list_in_french(app, worker, runner):
    gate = _gate()
    with app.test_request_context():
        job = jobs.enqueue("test.stepwise", {"steps": 2, "wait_at": 0, "gate": gate})
    wait_for(lambda: _waiting(app, gate), what="la tâche en cours")
    result = runner.invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    assert "Processus de fond actifs : 1." in result.output
    line = next(line for line in result.output.splitlines() if job.id in line)
    assert "en cours" in line and "Tâche d'essai par étapes" in line and "0/2 étape 1" in line
    jobs.connection(app).rpush(gate, "go")
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, what="la fin")
    assert "terminée" in runner.invoke(args=["jobs", "list"]).output

