"""Celery tasks of the governance app (interfaces only: load by id, call a service)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from governance import (
    notification_tasks,  # noqa: F401  (registers its task)
    services,
)


@shared_task(name="governance.health_check", soft_time_limit=10, time_limit=15)
def health_check_task() -> dict[str, Any]:
    """Prove a worker can reach the database and run code; used by ops probes."""
    return services.health_check()


@shared_task(
    name="governance.release_requests_expire_due", soft_time_limit=60, time_limit=90
)
def release_requests_expire_due_task() -> list[int]:
    """Flip approvals past their validity to expired (Celery beat, every few minutes)."""
    return services.release_requests_expire_due()
