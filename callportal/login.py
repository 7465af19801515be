"""The login forms of the site's login page and the admin's, in the site's words."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

USER_NAME = "User name"
WRONG_LOGIN = "The user name or the password is wrong. Both are case-sensitive."
WRONG_ADMIN_LOGIN = (
    "The user name or the password is wrong, or this account may not use the admin. "
    "Both are case-sensitive."
)


class SiteLoginForm(AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages, "invalid_login": WRONG_LOGIN}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = USER_NAME


class AdminLoginForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": WRONG_ADMIN_LOGIN,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = USER_NAME
