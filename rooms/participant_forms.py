"""Forms of the room page: adding people, importing a CSV file, and what each role may do."""

from django import forms
from django.core.exceptions import ValidationError

from identities.models import Identity
from identities.services import NAME_REQUIRED
from portal.ids import ModelIdsField
from portal.services import column_length
from rooms import csv_import
from rooms.models import Role

MAX_CSV_BYTES = 1_000_000
NEW_PERSON_ROWS = 3
MAX_NEW_PERSON_ROWS = 50
CSV_TOO_LARGE = "The file is larger than 1 MB: split it into smaller files."
CSV_REQUIRED = "Choose a CSV file to upload."

# What each role may do in a room call, in ACS's words reduced to one line each (ACS Rooms
# documentation, "Predefined participant roles and permissions"), most capable first.
ROLE_CAPABILITIES: list[tuple[Role, str]] = [
    (
        Role.PRESENTER,
        "Full control: speaks, sends video, shares the screen, mutes or removes others "
        "and can call out to phone numbers.",
    ),
    (
        Role.COLLABORATOR,
        "Speaks, sends video and shares the screen, but cannot manage anyone else.",
    ),
    (
        Role.ATTENDEE,
        "Speaks and sends video, but cannot share the screen. The default role.",
    ),
    (Role.CONSUMER, "Only watches and listens: cannot speak, send video or share the screen."),
]
ROLE_CHOICES = [(role.value, role.label) for role, _ in ROLE_CAPABILITIES]
# (value, label, what it may do): what the role pickers and the legend show.
ROLES = [(role.value, role.label, text) for role, text in ROLE_CAPABILITIES]


class RoleField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("choices", ROLE_CHOICES)
        kwargs.setdefault("initial", Role.ATTENDEE)
        super().__init__(**kwargs)


class NewPersonForm(forms.Form):
    """One "new person" row; a blank row is skipped."""

    # The columns' limits: EmailField alone allows 320 characters, the column holds 254.
    display_name = forms.CharField(
        label="Name", max_length=column_length(Identity, "display_name"), required=False
    )
    email = forms.EmailField(
        label="E-mail", max_length=column_length(Identity, "email"), required=False
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("email") and not (data.get("display_name") or "").strip():
            self.add_error("display_name", NAME_REQUIRED)
        return data


NewPersonFormSet = forms.formset_factory(
    NewPersonForm,
    extra=NEW_PERSON_ROWS,
    max_num=MAX_NEW_PERSON_ROWS,
    validate_max=True,
    absolute_max=MAX_NEW_PERSON_ROWS,
)


class AddPeopleForm(forms.Form):
    """People picked from the search and the role they all get; new people come in a formset."""

    # Any live identity: one already in the room is named by the service ("already in the room").
    identity = ModelIdsField(
        queryset=Identity.objects.filter(deleted_at__isnull=True),
        required=False,
        error_messages={"invalid_choice": "One of the people you ticked has been deleted."},
    )
    role = RoleField(label="Role to give them")
    q = forms.CharField(label="Find people", required=False)


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        error_messages={"required": CSV_REQUIRED},
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv", "aria-describedby": "csv-help"}),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise ValidationError(CSV_TOO_LARGE)
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(csv_import.NOT_TEXT) from None


class CsvApplyForm(forms.Form):
    """The previewed file, posted back as it was shown, so nothing is kept between the steps."""

    csv = forms.CharField(strip=False, widget=forms.Textarea(attrs={"hidden": True}))

    def clean_csv(self) -> str:
        text = self.cleaned_data["csv"]
        if len(text.encode("utf-8")) > MAX_CSV_BYTES:
            raise ValidationError(CSV_TOO_LARGE)
        return text
