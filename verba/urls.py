from django.urls import path

from verba.reference import api_reference
from verba.views import VerbaApiView

urlpatterns = [
    path("verba/api", VerbaApiView.as_view(), name="verba-api"),
    path("verba/docs", api_reference, name="verba-docs"),
]
