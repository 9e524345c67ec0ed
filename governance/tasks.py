"""Celery tasks of the governance app (interfaces only: load by id, call a service)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from governance import services


@shared_task(name="governance.health_check", soft_time_limit=10, time_limit=15)
def health_check_task() -> dict[str, Any]:
    """Prove a worker can reach the database and run code; used by ops probes."""
    return services.health_check()
