"""The form that makes a personal API token."""

from django import forms
from django.core.exceptions import ValidationError

from api import tokens
from api.models import ApiToken
from portal.services import column_length


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=column_length(ApiToken, "name"),
        help_text="What the token is for, e.g. “Timetable sync”.",
    )
    days = forms.IntegerField(
        label="Expires in (days)",
        min_value=1,
        max_value=tokens.MAX_DAYS,
        initial=90,
        help_text=f"1 to {tokens.MAX_DAYS} days.",
    )

    def add_service_error(self, exc: ValidationError) -> None:
        for field, messages in exc.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)
