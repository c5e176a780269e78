"""Ids that come from a browser (ticked boxes, hidden fields): only those a row could have."""

from django import forms
from django.core.exceptions import ValidationError

# The largest id a BigAutoField holds; a bigger number reaches the database as an overflow.
MAX_ID = 2**63 - 1


def parse_id(value) -> int | None:
    """The id `value` spells in ASCII digits, or None when no row could have it."""
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def parse_ids(values) -> list[int]:
    """The ids among `values`, each once, in order; anything else was not a real choice."""
    return list(dict.fromkeys(n for n in map(parse_id, values) if n is not None))


class ModelIdsField(forms.ModelMultipleChoiceField):
    """Rows chosen by id, where an id no row could have is an invalid choice.

    The stock field sends every value to `pk__in`: 40 digits raised OverflowError (a 500).
    """

    def _check_values(self, value):
        for pk in value:
            if parse_id(pk) is None:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": str(pk)[:50]},
                )
        # django-stubs leave out this private method, which clean() and to_python() both call.
        return super()._check_values(value)  # type: ignore[misc]
