"""The demo's directory: an agent, a team lead and a compliance officer who can log in, and
the lead's team, so that each log-in shows a different slice of the same calls.

- `agent` owns the busy extension (the one the example requests ask about): she sees her
  own calls only, times in Europe/London.
- `lead` supervises the Sales group (the agent and four colleagues without log-ins): he
  sees their calls and his own.
- `compliance` has access `all`: every call, times in UTC.

Loading is idempotent: users, extensions and the group are set to the same state on every
run, and each run gives the three log-ins fresh passwords (printed once).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from demo.data import BUSY_EXTENSION, EXTENSIONS
from directory.models import Access, Extension, Group, Profile

GROUP = "Sales"
# The Business API's tokens need these; the staff pages need only the access level.
TOKEN_PERMISSIONS = ("view_call", "change_call")


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    access: str
    time_zone: str
    extensions: tuple[str, ...]
    login: bool = True


AGENT = Person("agent", "Agent", Access.OWN, "Europe/London", (BUSY_EXTENSION,))
LEAD = Person("lead", "Team lead of Sales", Access.OWN, "Europe/London", (EXTENSIONS[1],))
COMPLIANCE = Person("compliance", "Compliance (sees every call)", Access.ALL, "UTC", ())
COLLEAGUES = tuple(
    Person(f"sales{n}", "Sales agent", Access.OWN, "Europe/London", (EXTENSIONS[1 + n],), False)
    for n in range(1, 5)
)
PEOPLE = (AGENT, LEAD, COMPLIANCE, *COLLEAGUES)


@dataclass(frozen=True)
class Login:
    person: Person
    password: str


def load_people() -> list[Login]:
    """Write the demo directory; return the log-ins with fresh passwords."""
    user_model = get_user_model()
    permissions = list(
        Permission.objects.filter(content_type__app_label="calls", codename__in=TOKEN_PERMISSIONS)
    )
    logins = []
    users = {}
    for person in PEOPLE:
        user, _ = user_model.objects.get_or_create(username=person.username)
        user.is_active = True
        if person.login:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            logins.append(Login(person, password))
        else:
            user.set_unusable_password()
        user.save()
        user.user_permissions.add(*permissions)
        Profile.objects.update_or_create(
            user=user, defaults={"access": person.access, "time_zone": person.time_zone}
        )
        Extension.objects.filter(user=user).delete()
        Extension.objects.bulk_create(Extension(user=user, number=n) for n in person.extensions)
        users[person.username] = user
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.members.set([users[AGENT.username], *(users[c.username] for c in COLLEAGUES)])
    group.supervisors.set([users[LEAD.username]])
    return logins
