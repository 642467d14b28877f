"""Views that write to the database (the URLconf is here too)."""

from __future__ import annotations

import sniffio
from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path

from . import trace
from .models import Note


def sync_view(request: HttpRequest) -> JsonResponse:
    rid = request.GET["rid"]
    Note.objects.create(text=rid)
    trace.record_view(rid)
    return JsonResponse({"notes": Note.objects.filter(text=rid).count()})


async def async_view(request: HttpRequest) -> JsonResponse:
    rid = request.GET["rid"]
    await Note.objects.acreate(text=rid)  # Django's own sync_to_async
    await sync_to_async(trace.record_view)(rid)  # the application's own
    gate = trace.GATES.get(request.GET.get("gate", ""))
    if gate is not None:
        await gate.wait()
    await sync_to_async(trace.record_view)(rid)
    return JsonResponse(
        {
            "notes": await Note.objects.filter(text=rid).acount(),
            "library": sniffio.current_async_library(),
        }
    )


async def template_view(request: HttpRequest) -> TemplateResponse:
    rid = request.GET["rid"]
    await Note.objects.acreate(text=rid)
    return TemplateResponse(request, "note.txt", {"text": rid})


urlpatterns = [
    path("sync/", sync_view),
    path("async/", async_view),
    path("template/", template_view),
]
