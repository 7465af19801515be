"""A user's API tokens end when their password changes or they are deactivated.

A token (RequestToken) stands for a password check. Without this it would outlive the
password it was granted for, or the account, by up to API_TOKEN_LIFETIME (an hour): a
leaked password that is changed, or a leaver who is deactivated, kept their access till
then. Whatever the door (admin, `changepassword`, the password change page, a script),
the user's save ends the tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from apikeys.services import end_user_tokens

_WATCHED = frozenset({"password", "is_active"})


def _note_old_credentials(
    sender: type[Model], instance: Any, update_fields: Iterable[str] | None = None, **kwargs: Any
) -> None:
    instance._apikeys_ends_tokens = False
    if instance.pk is None or (update_fields is not None and not _WATCHED & set(update_fields)):
        return  # a new user, or a save of other fields (the login's last_login)
    old = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if old is None:
        return
    instance._apikeys_ends_tokens = old["password"] != instance.password or (
        old["is_active"] and not instance.is_active
    )


def _end_tokens(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    if getattr(instance, "_apikeys_ends_tokens", False):
        instance._apikeys_ends_tokens = False
        end_user_tokens(instance)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_note_old_credentials, sender=user_model, dispatch_uid="apikeys.old_creds")
    post_save.connect(_end_tokens, sender=user_model, dispatch_uid="apikeys.end_tokens")
