from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from shared.networks import Network, address_allowed, normalize_networks, parse_network

NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 128
# An audit reader's key reads the audit feeds only, so that handing it to a SIEM never
# opens a call's content.
AUDIT_ONLY_MESSAGE = (
    "A key that reads the audit feeds may do nothing else: it cannot also query, change "
    "or ingest calls."
)


def validate_networks(value: list[str]) -> None:
    # Only the shape; each entry is checked (and named when bad) by ApiKey.clean().
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Network restrictions must be a list of addresses or ranges.")


class ApiKeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class ApiKey(models.Model):
    """A key an external system presents to the Business API or the ingestion API.

    Only the keyed digest of the key is stored; the plaintext is shown once, at creation.
    """

    name = models.CharField(
        max_length=NAME_MAX_LENGTH, validators=[MinLengthValidator(NAME_MIN_LENGTH)]
    )
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(
        max_length=8, editable=False, help_text="The end of the key, to recognise it."
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    networks = models.JSONField(
        "network restrictions",
        default=list,
        blank=True,
        validators=[validate_networks],
        help_text="IP addresses and CIDR ranges (IPv4 or IPv6) allowed to use this key. "
        "Empty: anywhere.",
    )
    requires_auth = models.BooleanField(
        "requires authentication",
        default=False,
        help_text="Every request except RequestToken must carry a valid user token.",
    )
    can_query = models.BooleanField("may query the Business API", default=True)
    can_change = models.BooleanField(
        "may change calls",
        default=False,
        help_text="KeepCall, DeleteCall, AttachMetaData and AddMarker.",
    )
    can_ingest = models.BooleanField(
        "may ingest calls", default=False, help_text="The ingestion API and PutMedia."
    )
    audit = models.BooleanField(
        "may read the audit feeds",
        default=False,
        help_text="The access log and the deletion ledger (/api/v1/access-events, "
        "/api/v1/deletions), and nothing else: such a key may not query, change or ingest.",
    )
    groups = models.ManyToManyField(
        "directory.Group",
        blank=True,
        related_name="api_keys",
        verbose_name="limited to groups",
        help_text="The key sees only the calls of these groups' members and supervisors "
        "(with a token, the user's scope applies as well). Empty: every call.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Not stored: whether the key is limited to directory groups, when its lookup read it
    # (apikeys.selectors.is_limited_to_groups).
    limited_to_groups: bool

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("name"), NAME_MIN_LENGTH),
                name="apikey_name_min_length",
            ),
            models.CheckConstraint(
                condition=Q(audit=False) | Q(can_query=False, can_change=False, can_ingest=False),
                name="apikey_audit_only",
                violation_error_message=AUDIT_ONLY_MESSAGE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint})"

    def clean(self) -> None:
        super().clean()
        if isinstance(self.networks, list):
            try:
                self.networks = normalize_networks(self.networks)
            except ValidationError as exc:
                raise ValidationError({"networks": exc.error_list}) from None

    @property
    def state(self) -> ApiKeyState:
        if self.revoked_at is not None:
            return ApiKeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return ApiKeyState.EXPIRED
        return ApiKeyState.ACTIVE

    @property
    def is_usable(self) -> bool:
        return self.state == ApiKeyState.ACTIVE

    @cached_property
    def parsed_networks(self) -> list[Network]:
        return [parse_network(n) for n in self.networks]

    def allows_address(self, address: str | None) -> bool:
        return address_allowed(address, self.parsed_networks)


class ApiSession(models.Model):
    """An API token: a user's authentication, bound to one API key, for a limited time."""

    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_sessions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    # Not stored: the permissions that the session's lookup checked for its user in the same
    # query ("app_label.codename" → held), set by apikeys.selectors.session_read.
    checked_permissions: dict[str, bool]
    # Not stored: the user's directory access level and time zone, read by the session's
    # lookup in the same query (None when the user has no directory profile).
    user_access: str | None
    user_time_zone: str | None

    class Meta:
        verbose_name = "API session"
        indexes = [models.Index(fields=["expires_at"], name="apisession_expires")]

    def __str__(self) -> str:
        return f"Session {self.pk} of {self.user} via {self.api_key}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None and self.expires_at > timezone.now()
