"""Admin forms for API keys: network restrictions as text, and importing an existing key."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apikeys import secrets
from apikeys.models import ApiKey
from shared.networks import normalize_networks, split_networks


class NetworksField(forms.CharField):
    """Addresses and CIDR ranges, one per line (commas and spaces also separate them)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "One IP address or CIDR range per line, IPv4 or IPv6 (for example 10.0.0.0/8 or "
            "2001:db8::/32). Empty: the key works from anywhere.",
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        return split_networks(super().to_python(value) or "")

    def validate(self, value: list[str]) -> None:
        # normalize_networks raises one error per bad entry, each naming the entry.
        normalize_networks(value)

    def clean(self, value: Any) -> list[str]:
        entries = self.to_python(value)
        self.validate(entries)
        return normalize_networks(entries)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return normalize_networks(initial or []) != self.clean(data)
        except ValidationError:
            return True


class SecretInput(forms.TextInput):
    """A text box that never writes a submitted value back into the page."""

    def format_value(self, value: Any) -> None:
        return None


class ApiKeyChangeForm(forms.ModelForm):
    networks = NetworksField(label="Network restrictions")

    class Meta:
        model = ApiKey
        fields = [
            "name",
            "requires_auth",
            "can_query",
            "can_change",
            "can_ingest",
            "audit",
            "expires_at",
            "networks",
            "groups",
        ]


class ApiKeyAddForm(ApiKeyChangeForm):
    existing_key = forms.CharField(
        label="Import an existing key",
        required=False,
        max_length=64,
        help_text="Leave empty to generate a new key. To keep an integration's key when "
        "migrating from Verba, paste its GUID here.",
        widget=SecretInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    class Meta(ApiKeyChangeForm.Meta):
        fields = ["name", "existing_key", *ApiKeyChangeForm.Meta.fields[1:]]

    def clean_existing_key(self) -> str | None:
        raw = self.cleaned_data.get("existing_key", "").strip()
        if not raw:
            return None
        key = secrets.normalize_key(raw)
        if key is None:
            # The value itself is never echoed back: it is a secret.
            raise ValidationError(
                "An API key must be a GUID such as 0f8fad5b-d9cb-469f-a165-70867728950e.",
                code="invalid_key",
            )
        if ApiKey.objects.filter(key_digest=secrets.digest(key)).exists():
            raise ValidationError("This API key already exists.", code="duplicate_key")
        return key
