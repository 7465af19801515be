"""The Business API's actions: one small handler class each, found by name.

Adding an action means writing a handler module (subclass `Action`, decorate it with
`@register`) and importing it at the bottom of this file; the dispatcher never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import Enum
from typing import Any, ClassVar, TypeVar

from django.db import connection
from rest_framework.request import Request

from apikeys.models import ApiKey, ApiSession
from directory.scopes import EVERYTHING, Scope, StatementOwner
from shared.sql import Read, Reader, run
from verba.answers import Answer
from verba.forms import ActionForm
from verba.params import TRANSPORT_NAMES, Params


class KeyPermission(Enum):
    """What an API key may do (its permission fields); an action names the ones it needs."""

    QUERY = "can_query"
    CHANGE = "can_change"
    INGEST = "can_ingest"

    def granted_to(self, api_key: ApiKey) -> bool:
        return bool(getattr(api_key, self.value))


class TokenRule(Enum):
    AS_KEY_SAYS = "as the key says"  # needed when the key requires authentication
    NOT_NEEDED = "not needed"  # RequestToken: it is how a token is obtained
    ALWAYS = "always"  # ReleaseToken: the token is the subject


T = TypeVar("T")
F = TypeVar("F", bound=ActionForm)


class ReadAhead:
    """Runs an action's queries; holds the answer to its first one when the transport sent
    it together with the key's lookup (one round trip), and serves that answer once, to the
    same query."""

    def __init__(self, read: Read[Any] | None = None, answer: Any = None) -> None:
        self._read, self._answer = read, answer

    def __call__(self, read: Read[T]) -> T:
        if self._read is not None and read == self._read:
            self._read = None
            return self._answer
        return run(connection, read)


@dataclass
class Context:
    """Everything a handler may use; the checks before it have all passed."""

    request: Request
    params: Params
    api_key: ApiKey
    session: ApiSession | None
    client_address: str | None
    arrived_at: datetime
    # The action's parameters, read once (the same instance its first read saw).
    form: ActionForm
    # For the audit trail: the user the request acted for (a handler may set it).
    user_id: int | None = None
    # For the audit trail: what a changing action changed (names, never values).
    change: str = ""
    # Runs the call lookups (`verba.actions.lookup`), with the answer read ahead if any.
    reader: Reader = field(default_factory=ReadAhead)
    # The calls the key and the token's user may see (directory.scopes); outside it a call
    # does not exist. Every lookup of a call passes it.
    scope: Scope = EVERYTHING
    # The token's user as a lookup's own statement finds it (None without a token): an
    # action that passes it to `find_call` has the user's scope checked in the lookup's
    # statement, not in one of its own. Its `first_read` must have been given the same.
    owner: StatementOwner | None = None
    # Times in answers and in request parameters: the token user's zone, else UTC (§7.0).
    zone: tzinfo = UTC

    def form_as(self, kind: type[F]) -> F:
        """The form, as the action's own form class (for type checkers)."""
        if not isinstance(self.form, kind):
            raise TypeError(f"the request's form is a {type(self.form).__name__}")
        return self.form


class Action:
    name: ClassVar[str]
    # A media action answers success with the media itself, and every error in XML whatever
    # responseType says (contract §7.0), even errors found before the action runs.
    media: ClassVar[bool] = False
    token_rule: ClassVar[TokenRule] = TokenRule.AS_KEY_SAYS
    # Whether a token's user must (still) hold calls.view_call for this action.
    needs_view_permission: ClassVar[bool] = True
    # The key must hold one of these (tokens work for keys of any permission).
    key_permissions: ClassVar[frozenset[KeyPermission]] = frozenset({KeyPermission.QUERY})
    # Django permissions a token's user needs besides calls.view_call (changing actions).
    user_permissions: ClassVar[tuple[str, ...]] = ()
    # HTTP methods the action takes (PutMedia: POST only); others get 405.
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})
    # The action's parameters, declared once (verba/forms.py): the transport reads them into
    # one instance per request, and derives from the declarations which names may come
    # repeated and which names the API knows.
    form: ClassVar[type[ActionForm]] = ActionForm

    def run(self, context: Context) -> Answer:
        raise NotImplementedError

    def first_read(
        self, form: ActionForm, arrived_at: datetime, owner: StatementOwner | None
    ) -> Read[Any] | None:
        """The query `run` will send first, when the parameters alone tell it: the transport
        sends it with the key's lookup, in one round trip. None: `run` sends its own. It
        reads the same form instance `run` gets, so nothing is parsed twice. `owner`: the
        token's user, as `Context.owner`."""
        return None


REGISTRY: dict[str, Action] = {}

A = TypeVar("A", bound=Action)


def register(cls: type[A]) -> type[A]:
    if cls.name in REGISTRY:
        raise RuntimeError(f"action {cls.name} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def get_action(name: str) -> Action | None:
    """The handler for `name` (action names are case-sensitive, as Verba documents them)."""
    return REGISTRY.get(name)


def known_names() -> frozenset[str]:
    """Every parameter name of the Business API: the transport's and every action's
    declared ones. A "given more than once" answer names only these (never echoes other
    text from the request)."""
    return TRANSPORT_NAMES.union(*(action.form.parameter_names() for action in REGISTRY.values()))


# Verba's "Direct URL Access" parameter (the staff call page's link): not a Business API
# parameter, but an identifier spelt so would read like one.
_LINK_NAMES = frozenset({"ccdrId"})


def reserved_names() -> frozenset[str]:
    """The names AttachMetaData never reads as a field identifier, lower case: every
    parameter name the API knows, in any letter case (the admin refuses them as
    identifiers, through calls.models.reserve_identifiers)."""
    return frozenset(name.lower() for name in known_names() | _LINK_NAMES)


# The handlers register themselves on import.
from verba.actions import (  # noqa: E402, F401
    get_call_id,
    get_call_information,
    get_call_url,
    get_media,
    get_media_encoded,
    get_media_segment,
    get_waveform,
    markers,
    metadata,
    put_media,
    retention,
    search_calls,
    tokens,
)
