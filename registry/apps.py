import logging
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


def _sync_catalog(sender: Any, **kwargs: Any) -> None:
    from registry import services

    for warning in services.template_catalog_sync(using=kwargs.get("using", "default")):
        logger.warning(warning)


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        # Shipped templates are data that must exist after every migrate;
        # post_migrate is the one signal the style allows.
        post_migrate.connect(
            _sync_catalog, sender=self, dispatch_uid="registry-catalog"
        )
