"""Each action's parameters, declared once, read once (the model is Zulip's `typed_endpoint`).

An action declares its parameters as a form: a class whose attributes are `Field`s, each
naming the parameters it reads and how it reads them::

    class KeepCallForm(ActionForm):
        unmark = field("unmark", read_unmark)          # a Field[bool]
        call = names_a_call(BY_ID_OR_EXTENSION)        # a Field[NamedCall]

The transport builds the form once per request (`action.form(params)`); the action's first
read and its handler get the same instance, so nothing is parsed twice. A field is read the
first time it is used and kept, value or error: a malformed parameter is answered (code 1)
when the handler first uses it, so the order of the contract's checks (key and token
before parameters) and each action's own order of parameter errors stay as they were.

Everything else about names is derived from the declarations: the parameters an action
takes repeated (`repeatable_names`), the names a "given more than once" answer may echo, and the
names AttachMetaData never reads as a field identifier (`verba.actions.reserved_names`).
A reader may read only the names its field declares (a bug otherwise), so the declarations
cannot drift from the code that reads the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any, Generic, TypeVar, cast, overload

from verba.codes import ApiError
from verba.params import Params

T = TypeVar("T")


@dataclass(frozen=True)
class DeclaredParams(Params):
    """The request's parameters as one field sees them: only the names it declared."""

    declared: frozenset[str] = frozenset()

    def _check(self, name: str) -> None:
        if name not in self.declared:
            raise RuntimeError(f"a form field reads {name!r} without declaring it")

    def get(self, name: str) -> str | None:
        self._check(name)
        return super().get(name)

    def get_all(self, name: str) -> list[str]:
        self._check(name)
        return super().get_all(name)

    def is_repeated(self, name: str) -> bool:
        self._check(name)
        return super().is_repeated(name)


class Field(Generic[T]):
    """One parameter, or a few read together (a call's name, a colour scheme), declared on
    an `ActionForm`: the names it reads and the function that reads them.

    `read` gets the request's parameters (only the declared names) and returns the value,
    or raises ApiError (code 1 naming the parameter). On a form instance the attribute is
    the value, read once; on the class it is the declaration."""

    def __init__(
        self,
        names: tuple[str, ...],
        read: Callable[[Params], T],
        *,
        repeatable: bool = False,
    ) -> None:
        self.names = names
        self.read = read
        self.repeatable = repeatable
        self.attribute = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    @overload
    def __get__(self, form: None, owner: type) -> Field[T]: ...

    @overload
    def __get__(self, form: ActionForm, owner: type) -> T: ...

    def __get__(self, form: ActionForm | None, owner: type) -> Field[T] | T:
        if form is None:
            return self
        return form.value_of(self)


def field(
    name: str,
    reader: Callable[..., T],
    *,
    repeatable: bool = False,
    **options: Any,
) -> Field[T]:
    """A field of one parameter, read by `reader(params, name, **options)`: the name is
    written once, in the declaration."""

    def read(params: Params) -> T:
        return reader(params, name, **options)

    return Field((name,), read, repeatable=repeatable)


@dataclass(frozen=True)
class _Failed:
    error: ApiError


class ActionForm:
    """An action's parameters (subclass it and declare `Field`s); one instance per request.

    The base form declares none: an action that reads no parameter of its own (ReleaseToken)
    uses it as it is."""

    def __init__(self, params: Params) -> None:
        self._params = params
        self._read: dict[str, Any] = {}

    def in_zone(self, zone: tzinfo) -> None:
        """Read the request's times in `zone` (the token user's, known once the token is
        checked, before any time field is read): values already read are read again."""
        self._params = replace(self._params, zone=zone)
        self._read.clear()

    def value_of(self, declared: Field[T]) -> T:
        """The field's value, read on first use and kept (its error too)."""
        name = declared.attribute
        if name not in self._read:
            view = DeclaredParams(
                query=self._params.query,
                body=self._params.body,
                unreadable=self._params.unreadable,
                zone=self._params.zone,
                declared=frozenset(declared.names),
            )
            try:
                self._read[name] = declared.read(view)
            except ApiError as error:
                self._read[name] = _Failed(error)
        found = self._read[name]
        if isinstance(found, _Failed):
            raise found.error
        return cast("T", found)

    @classmethod
    def declared_fields(cls) -> list[Field[Any]]:
        """The declared fields, base classes' first, each in declaration order."""
        found: dict[str, Field[Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    found[name] = value
        return list(found.values())

    @classmethod
    def parameter_names(cls) -> frozenset[str]:
        """Every parameter name the form reads."""
        return frozenset(name for f in cls.declared_fields() for name in f.names)

    @classmethod
    def repeatable_names(cls) -> frozenset[str]:
        """The names the form reads as lists (SearchCalls' anynum); any other parameter
        given more than once is code 1 before the action runs."""
        return frozenset(name for f in cls.declared_fields() if f.repeatable for name in f.names)
