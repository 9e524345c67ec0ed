"""Celery against the real Redis broker: a worker picks the task up and answers."""

from __future__ import annotations

from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from governance import tasks
from governance.celery import app

REDIS = "redis://127.0.0.1:6379/15"


@pytest.mark.celery_broker
def test_health_check_task_runs_on_a_real_worker_over_redis(db: Any) -> None:
    # given a worker consuming from Redis, with Redis as the result backend
    app.conf.update(broker_url=REDIS, result_backend=REDIS, task_always_eager=False)
    try:
        with start_worker(
            app, perform_ping_check=False, pool="solo", loglevel="WARNING"
        ):
            # when the task is sent through the broker
            result = tasks.health_check_task.delay()
            answer = result.get(timeout=20)
    finally:
        app.conf.update(result_backend=None)
    # then the worker ran it against the database
    assert answer["ok"] is True
    assert answer["database"] == "postgresql"
    assert result.status == "SUCCESS"


def test_task_has_a_stable_name() -> None:
    assert tasks.health_check_task.name == "governance.health_check"
