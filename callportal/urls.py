from django.contrib import admin
from django.contrib.auth.views import LoginView, LogoutView
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from callportal import health
from callportal.login import AdminLoginForm, SiteLoginForm

# The admin is callportal's too: its name, not "Django administration".
admin.site.site_header = "callportal administration"
admin.site.site_title = "callportal admin"
admin.site.index_title = "Administration"
# The app list is on the admin's home page and in the breadcrumbs; without the sidebar the
# change lists have the width to show every column at 1366 px.
admin.site.enable_nav_sidebar = False
# The admin's login page in the site's words ("User name", a wrong login explained).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    # Probes for the load balancer (docs/deployment.md): process up / database reachable.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Browsers ask for /favicon.ico on pages that name no icon (API answers, raw files).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    # Logging out of the admin leads to the admin's login page, not the staff pages' one
    # (LOGOUT_REDIRECT_URL); the admin's own logout URL, so its "Log out" button lands here.
    path("admin/logout/", LogoutView.as_view(next_page="admin:login")),
    path("admin/", admin.site.urls),
    # The site's login page with its own words for a wrong login (not Django's "username").
    path("accounts/login/", LoginView.as_view(authentication_form=SiteLoginForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    # The Business API at /verba/api.
    path("", include("verba.urls")),
    # The call ingestion API for recorders and PBX connectors.
    path("api/v1/", include("ingest.urls")),
    # Staff pages: the call list, the call page and Verba's deep links to them.
    path("", include("staff.urls")),
]

# A request refused before any view (a Host outside ALLOWED_HOSTS), or failed outside a
# view's own error handling (a staff page while the database is down), gets each API's own
# error answer, or the site's own 400/503/500 page, instead of Django's.
handler400 = "callportal.error_pages.bad_request"
handler500 = "callportal.error_pages.server_error"
