"""The application's one model."""

from __future__ import annotations

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.text
