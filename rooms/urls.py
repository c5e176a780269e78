"""Room pages: list, calendar, the room form and its actions, the room page."""

from django.urls import path

from rooms.views import browse, detail, edit, series

app_name = "rooms"

urlpatterns = [
    path("", browse.room_list, name="list"),
    path("calendar/", browse.room_calendar, name="calendar"),
    path("new/", edit.room_create, name="create"),
    path("validate/", edit.room_validate, name="validate"),
    path("<int:pk>/", detail.room_detail, name="detail"),
    path("<int:pk>/edit/", edit.room_edit, name="edit"),
    path("<int:pk>/delete/", edit.room_delete, name="delete"),
    path("<int:pk>/duplicate/", edit.room_duplicate, name="duplicate"),
    path("<int:pk>/extend/", edit.room_extend, name="extend"),
    path("<int:pk>/retry/", edit.room_retry_sync, name="retry_sync"),
    path("<int:pk>/sync/", edit.room_sync_badge, name="sync_badge"),
    path("<int:pk>/history/", detail.room_history, name="history"),
    path("<int:pk>/people/", detail.room_people, name="people"),
    path("<int:pk>/people/add/", detail.participants_add, name="participants_add"),
    path("<int:pk>/people/search/", detail.identity_search, name="identity_search"),
    path("<int:pk>/people/bulk/", detail.participants_bulk, name="participants_bulk"),
    path("<int:pk>/people/import/", detail.participants_import, name="participants_import"),
    path("<int:pk>/people/<int:participant_pk>/role/", detail.participant_role, name="role"),
    path(
        "<int:pk>/people/<int:participant_pk>/remove/",
        detail.participant_remove,
        name="participant_remove",
    ),
    # Recurring series: each occurrence is a room of its own.
    path("series/", series.series_list, name="series_list"),
    path("series/new/", series.series_create, name="series_create"),
    path("series/<int:pk>/", series.series_detail, name="series_detail"),
    path("series/<int:pk>/edit/", series.series_edit, name="series_edit"),
    path("series/<int:pk>/roster/", series.series_roster, name="series_roster"),
    path("series/<int:pk>/cancel/", series.series_cancel, name="series_cancel"),
    path("series/<int:pk>/skip/<int:room_pk>/", series.series_skip, name="series_skip"),
]
