from django.urls import path

from invitations import views

app_name = "invitations"
urlpatterns = [
    path("rooms/<int:pk>/calendar.ics", views.room_calendar, name="room_calendar"),
    path("rooms/<int:pk>/", views.room_invitations, name="room"),
    path("rooms/<int:pk>/switch/", views.toggle, name="toggle"),
    path("rooms/<int:pk>/people/<int:participant_pk>/preview/", views.preview, name="preview"),
    path("rooms/<int:pk>/people/<int:participant_pk>/resend/", views.resend, name="resend"),
    path("feed/", views.feed_settings, name="feed_settings"),
    path("feed/<str:secret>.ics", views.feed, name="feed"),
]
