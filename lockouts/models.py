from axes.models import AccessAttempt


class FailedLogins(AccessAttempt):
    """Axes' record of failed logins for one user name from one address, in the site's words
    (the admin's "Login lockouts" screen)."""

    class Meta:
        proxy = True
        verbose_name = "failed-login record"
        verbose_name_plural = "failed-login records"
