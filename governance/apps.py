from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance import roles
        from governance.api import schema  # noqa: F401  (registers the OpenAPI extension)

        # post_migrate is the one signal the house style allows: roles are data
        # that must exist after every migrate, on every database.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="roles-sync")
