"""The JSON shape of a call in the ingestion API, and its validation."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.utils import humanize_datetime

from calls import rules
from calls.models import Call, Direction
from shared.times import NaiveTime, parse_datetime

UNKNOWN_FIELD_MESSAGE = "Unknown field."
READ_ONLY_MESSAGE = "This field is read-only."


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset ("…Z" or "…+01:00"); a time without one is ambiguous."""

    default_error_messages = {
        "naive": "Give the time with its UTC offset, e.g. 2026-11-26T14:03:00Z or "
        "2026-11-26T15:03:00+01:00.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            return super().to_internal_value(value)
        # Read by the project's one parser (shared.times), not DRF's, which would take a time
        # without an offset in the server's zone.
        try:
            parsed = parse_datetime(value, naive_is_utc=False)
        except NaiveTime:
            self.fail("naive")
        except ValueError:
            formats = humanize_datetime.datetime_formats(api_settings.DATETIME_INPUT_FORMATS)
            self.fail("invalid", format=formats)
        return self.enforce_timezone(parsed)


class RuleField(serializers.CharField):
    """A text field read by one of the input rules (calls.rules), as every entry point
    reads it."""

    def __init__(self, rule: rules.TextRule, **kwargs: Any) -> None:
        self.rule = rule
        # The lengths are for the schema; the rule trims and measures.
        super().__init__(
            trim_whitespace=False,
            allow_blank=True,
            max_length=rule.max_length,
            min_length=rule.min_length or None,
            **kwargs,
        )
        # DRF's own checks would answer in other words than the rule's.
        self.validators = []

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            # DRF answers an empty string before to_internal_value: the rule decides.
            return self._by_rule("")
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        return self._by_rule(super().to_internal_value(data))

    def _by_rule(self, text: str) -> str:
        try:
            return self.rule.clean(text)
        except rules.Refused as refused:
            raise serializers.ValidationError(refused.sentence("This field")) from None


@extend_schema_field(OpenApiTypes.UUID)
class GuidField(serializers.CharField):
    """A call's GUID, read by the one GUID rule (calls.rules.guid)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return rules.guid(super().to_internal_value(data))
        except rules.Refused as refused:
            raise serializers.ValidationError(refused.sentence("This field")) from None

    def to_representation(self, value: Any) -> str:
        return str(value)


class CallSerializer(serializers.Serializer):
    """A call record. On create, caller_number, called_number and started_at are required."""

    id = GuidField(required=False, help_text="The call's GUID; generated if absent.")
    caller_number = RuleField(
        rules.NUMBER,
        help_text=f"The calling party's number, {rules.NUMBER.requirement}.",
    )
    caller_name = RuleField(rules.NAME, required=False)
    called_number = RuleField(
        rules.NUMBER,
        help_text=f"The called party's number, {rules.NUMBER.requirement}.",
    )
    called_name = RuleField(rules.NAME, required=False)
    started_at = AwareDateTimeField(help_text="When the call started (ISO 8601 with offset).")
    ended_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When the call ended; null while in progress."
    )
    direction = serializers.ChoiceField(
        choices=Direction.choices,
        required=False,
        allow_blank=True,
        help_text="inbound, outbound or internal; an empty string when not known.",
    )
    native_id = RuleField(rules.IDENTIFIER, required=False)
    platform_call_id = RuleField(rules.IDENTIFIER, required=False)
    keep = serializers.BooleanField(required=False, help_text="Never delete this call.")
    has_recording = serializers.SerializerMethodField()
    recording_content_type = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_has_recording(self, call: Call) -> bool:
        return bool(call.recording)

    def get_recording_content_type(self, call: Call) -> str | None:
        return call.recording_content_type if call.recording else None

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            errors: dict[str, Any] = {
                name: [READ_ONLY_MESSAGE if name in self.fields else UNKNOWN_FIELD_MESSAGE]
                for name in data
                if name not in self.fields or self.fields[name].read_only
            }
            if errors:
                # Reported together with the other fields' errors, so one answer names all.
                try:
                    super().to_internal_value(data)
                except serializers.ValidationError as exc:
                    if isinstance(exc.detail, dict):
                        errors = {**exc.detail, **errors}
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            rules.check_span(attrs.get("started_at"), attrs.get("ended_at"))
        except rules.EndBeforeStart as refused:
            raise serializers.ValidationError({"ended_at": [refused.message]}) from None
        return attrs


class CallListQuerySerializer(serializers.Serializer):
    """The filters of GET /api/v1/calls."""

    number = RuleField(
        rules.NUMBER,
        required=False,
        help_text="Calls where this number is the caller or the called party.",
    )
    started_after = AwareDateTimeField(required=False, help_text="Calls that started at or after.")
    started_before = AwareDateTimeField(required=False, help_text="Calls that started before.")
