"""The staff call search form: what the list page (and Verba's search deep link) accept."""

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from calls import rules
from calls.states import FILTER_CHOICES, State
from search.staff_list import CallSearch, Cursor, Recording
from shared.times import parse_time_span

DATE_HELP = "YYYY-MM-DD or YYYY-MM-DD hh:mm"


def parse_bound(value: str) -> tuple[datetime, datetime] | None:
    """The [start, end) span a date or date-time names, in the current time zone.

    Accepts `YYYY-MM-DD`, `YYYY-MM-DD hh:mm` and `YYYY-MM-DD hh:mm:ss` (a "T" in place of
    the space too, as browsers' date-time inputs send it). None for anything else.
    """
    return parse_time_span(value.strip(), timezone.get_current_timezone())


class DateBoundField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 25)
        kwargs.setdefault("help_text", DATE_HELP)
        super().__init__(**kwargs)
        self.widget.attrs.update({"autocomplete": "off"})

    def clean(self, value: str) -> tuple[datetime, datetime] | None:
        text = super().clean(value)
        if not text:
            return None
        span = parse_bound(text)
        if span is None:
            raise ValidationError(
                f"Enter a date as {DATE_HELP} (for example 2026-11-26 or 2026-11-26 14:30).",
                code="invalid",
            )
        return span


class CursorField(forms.CharField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)

    def clean(self, value: str) -> Cursor | None:
        text = super().clean(value)
        if not text:
            return None
        cursor = Cursor.decode(text)
        if cursor is None:
            raise ValidationError(
                "This page link is not valid. Start again from the first page.", code="invalid"
            )
        return cursor


class CallSearchForm(forms.Form):
    number = forms.CharField(
        label="Phone number",
        required=False,
        max_length=rules.NUMBER.max_length,
        strip=False,
        help_text="Caller or called party, the exact number.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    number_part = forms.CharField(
        label="Part of a number",
        required=False,
        max_length=rules.NUMBER_PART.max_length,
        strip=False,
        help_text="Any digits of the caller's or the called number.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    name = forms.CharField(
        label="Name",
        required=False,
        max_length=rules.NAME_PART.max_length,
        strip=False,
        help_text="Part of the caller's or the called party's name, any case.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    date_from = DateBoundField(label="Started from")
    date_to = DateBoundField(label="Started until")
    state = forms.ChoiceField(
        label="State",
        required=False,
        choices=[(State.ANY, "Any"), *FILTER_CHOICES],
    )
    recording = forms.ChoiceField(
        label="Recording",
        required=False,
        choices=[
            (Recording.ANY, "Any"),
            (Recording.WITH, "With a recording"),
            (Recording.WITHOUT, "Without a recording"),
        ],
    )
    before = CursorField()
    after = CursorField()

    def clean_number(self) -> str:
        # Read as every entry point reads a number (calls.rules); empty means any number.
        number = self.cleaned_data.get("number") or ""
        if not number.strip():
            return ""
        try:
            return rules.NUMBER.clean(number)
        except rules.Refused as refused:
            raise ValidationError(refused.sentence("A phone number"), code="invalid") from None

    def clean_number_part(self) -> str:
        # SearchCalls' anynum rule (calls.rules); empty means any number.
        return _part(
            self.cleaned_data.get("number_part") or "", rules.NUMBER_PART, "A part of a number"
        )

    def clean_name(self) -> str:
        # SearchCalls' anyname rule (calls.rules); empty means any name.
        return _part(self.cleaned_data.get("name") or "", rules.NAME_PART, "A name")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start[0] >= end[1]:
            self.add_error("date_to", "The end of the range must be after its start.")
        if data.get("before") and data.get("after"):
            raise ValidationError("This page link is not valid. Start again from the first page.")
        return data

    def search(self) -> CallSearch:
        """The validated search; call only after is_valid()."""
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        return CallSearch(
            number=data.get("number") or "",
            number_part=data.get("number_part") or "",
            name_part=data.get("name") or "",
            started_from=start[0] if start else None,
            started_before=end[1] if end else None,
            state=data.get("state") or State.ANY,
            recording=Recording(data.get("recording") or Recording.ANY),
        )


# The list's search fields: every field but the page position.
SEARCH_FIELDS = tuple(
    name for name, field in CallSearchForm.base_fields.items() if not isinstance(field, CursorField)
)


def _part(raw: str, rule: rules.TextRule, subject: str) -> str:
    if not raw.strip():
        return ""
    try:
        return rule.clean(raw)
    except rules.Refused as refused:
        raise ValidationError(refused.sentence(subject), code="invalid") from None
