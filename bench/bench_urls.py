"""The site's URLs plus a bare Django view, for the benchmark's baseline."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

import callportal.urls


def constant(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


urlpatterns = [path("bench/django", constant), *callportal.urls.urlpatterns]
