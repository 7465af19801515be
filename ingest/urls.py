from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ingest import audit_feeds, views

app_name = "ingest"

urlpatterns = [
    path("calls", views.CallListView.as_view(), name="calls"),
    path("calls/<str:call_id>", views.CallDetailView.as_view(), name="call"),
    path("calls/<str:call_id>/recording", views.RecordingView.as_view(), name="recording"),
    path("access-events", audit_feeds.AccessEventsView.as_view(), name="access_events"),
    path("deletions", audit_feeds.DeletionsView.as_view(), name="deletions"),
    path(
        "schema",
        SpectacularAPIView.as_view(
            authentication_classes=[],
            permission_classes=[],
            custom_settings={"PREPROCESSING_HOOKS": ["ingest.schema.only_ingestion_paths"]},
        ),
        name="schema",
    ),
    path(
        "docs",
        SpectacularSwaggerView.as_view(
            url_name="ingest:schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    re_path(r"^.*$", views.not_found),
]
