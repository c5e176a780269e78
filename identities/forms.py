"""Forms for the identity pages; they only parse input: the services validate and explain."""

from django import forms

from identities import services
from identities.models import Identity, TokenScope
from portal.services import column_length

DEFAULT_SCOPES = [TokenScope.CHAT, TokenScope.VOIP]
LIFETIMES = [
    (60, "1 hour"),
    (240, "4 hours"),
    (480, "8 hours"),
    (720, "12 hours"),
    (1440, "24 hours"),
]


class IdentityForm(forms.Form):
    # Not required and no EmailField: identity_create checks both and its messages, which
    # the tests assert on, are the ones shown. The browser still checks through the attributes.
    # Limits are the columns' (a longer e-mail passes validate_email but not the database).
    display_name = forms.CharField(
        label="Name",
        required=False,
        strip=False,
        max_length=column_length(Identity, "display_name"),
        widget=forms.TextInput(attrs={"required": True, "autocomplete": "off"}),
    )
    email = forms.CharField(
        label="E-mail",
        required=False,
        max_length=column_length(Identity, "email"),
        help_text="Optional. Used to find this person again when adding them to rooms.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )


class TokenForm(forms.Form):
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices,
        required=False,
        initial=DEFAULT_SCOPES,
        widget=forms.CheckboxSelectMultiple,
    )
    # A select of sensible lifetimes; the service still checks 60–1440 whatever is posted.
    minutes = forms.IntegerField(
        label="Lifetime",
        initial=1440,
        error_messages={"invalid": services.MINUTES_RANGE, "required": services.MINUTES_RANGE},
        widget=forms.Select(choices=LIFETIMES),
    )
