from django.urls import path

from verba.views import VerbaApiView

urlpatterns = [
    path("verba/api", VerbaApiView.as_view(), name="verba-api"),
]
