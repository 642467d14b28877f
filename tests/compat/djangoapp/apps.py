"""The application's configuration: connects the request signal receivers."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoAppConfig(AppConfig):
    name = "tests.compat.djangoapp"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import trace

        trace.connect_receivers()
