"""modelgov's Django project package and its approval-workflow app."""

from governance.celery import app as celery_app

__all__ = ["celery_app"]
