"""The portal's URLs; every URL but sign-in and the health check needs a signed-in user."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import health, views
from portal import entra, history, preferences
from portal.login import PortalAdminAuthenticationForm, PortalLoginView

handler500 = "portal.errors.server_error"
# Both sign-ins are throttled by django-axes; these forms say so when it refuses one.
admin.site.login_form = PortalAdminAuthenticationForm

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("rooms/", include("rooms.urls")),
    path("identities/", include("identities.urls")),
    path("join/", include("joining.urls")),
    path("invitations/", include("invitations.urls")),
    path("history/", history.history_list, name="history"),
    path("history/export.csv", history.history_export, name="history_export"),
    path("settings/time-zone/", preferences.time_zone_setting, name="time_zone"),
    path("login/", PortalLoginView.as_view(), name="login"),
    # Sign-in with Entra ID (404 unless configured); the callback is the app's redirect URI.
    path("oidc/authenticate/", entra.sign_in, name="oidc_authentication_init"),
    path("oidc/callback/", entra.callback, name="oidc_authentication_callback"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    # Probes for load balancers and monitors, no sign-in (config/health.py says which is which).
    path("healthz/live", health.liveness, name="health_live"),
    path("healthz/ready", health.readiness, name="health_ready"),
    path("health/", health.report, name="health"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    # The REST API (bearer tokens, JSON; docs/api.md) and the user's API tokens page.
    path("api/", include("api.urls")),
]
