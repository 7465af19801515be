from django.urls import path

app_name = "calls"

urlpatterns: list[path] = []
