"""The portal's URLs plus the stock-admin baselines (/baseline-admin/, the fair one, and
/naive-admin/, the first attempt) and the benchmark-only views."""

from django.urls import path

from benchmarks import baseline, dashboard
from config.urls import handler500  # noqa: F401 - the portal's error page stays in force
from config.urls import urlpatterns as portal_urlpatterns

urlpatterns = [
    path("baseline-admin/", baseline.site.urls),
    path("naive-admin/", baseline.naive_site.urls),
    path("bench/dashboard/", dashboard.plain_dashboard, name="bench_plain_dashboard"),
    path(
        "bench/role/<int:pk>/<int:participant_pk>/", baseline.role_change, name="bench_role_change"
    ),
    path("bench/naive-export.csv", baseline.naive_export, name="bench_naive_export"),
    *portal_urlpatterns,
]
