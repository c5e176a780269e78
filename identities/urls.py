"""Identity pages: list, create, the identity's page, tokens, delete."""

from django.urls import path

from identities import views

app_name = "identities"

urlpatterns = [
    path("", views.identity_list, name="list"),
    path("new/", views.identity_create, name="create"),
    path("<int:pk>/", views.identity_detail, name="detail"),
    path("<int:pk>/token/", views.identity_issue_token, name="issue_token"),
    path("<int:pk>/revoke/", views.identity_revoke_tokens, name="revoke_tokens"),
    path("<int:pk>/delete/", views.identity_delete, name="delete"),
]
