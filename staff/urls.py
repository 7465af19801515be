from django.urls import path

from staff import views

app_name = "calls"

urlpatterns = [
    path("", views.home, name="home"),
    path("calls/", views.call_list, name="list"),
    path("calls/<uuid:pk>/", views.call_detail, name="detail"),
    path("calls/<uuid:pk>/recording", views.call_recording, name="recording"),
    path("calls/<uuid:pk>/download", views.call_download, name="download"),
    path("calls/<uuid:pk>/waveform.png", views.call_waveform, name="waveform"),
    # Verba's documented deep links ("Direct URL Access"), kept so that URLs handed out by
    # GetCallURL and links built for Verba keep working.
    path("verba/gwtCallDetail.do", views.verba_call_detail, name="verba_detail"),
    path("verba/gwtCallSearch.do", views.verba_call_search, name="verba_search"),
]
