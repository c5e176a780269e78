"""The join page and its token (public: the link is the key) and the staff's link buttons."""

from django.urls import path

from joining import views

app_name = "joining"
urlpatterns = [
    path("links/<str:pk>/regenerate", views.link_regenerate, name="link_regenerate"),
    path("links/<str:pk>/revoke", views.link_revoke, name="link_revoke"),
    path("<str:secret>/", views.join, name="join"),
    path("<str:secret>/token", views.token, name="token"),
]
