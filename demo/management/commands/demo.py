import os
import secrets
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apikeys.models import ApiKey
from apikeys.services import create_api_key, rotate_api_key
from demo import data as demo
from demo.people import load_people

DEMO_USER = "demo"
DEMO_KEY_NAME = "Demo integration"


class Command(BaseCommand):
    help = (
        "Load demo data: a staff user, a small directory (an agent, a team lead, a "
        "compliance officer), an API key that may query and change calls, a few hundred "
        "calls over the last days, the newest with short recordings and markers, some with "
        "custom fields. Running it again keeps the calls (and their edits) and prints fresh "
        "credentials for the users and the key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=400, help="How many calls.")
        parser.add_argument(
            "--base-url",
            default=None,
            help="Where the app is served, for the printed URLs "
            "(default: PUBLIC_URL, else gunicorn's BIND, else http://127.0.0.1:8000).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = int(options["calls"])
        if count < 1:
            raise CommandError("--calls must be at least 1.")
        with transaction.atomic():
            password = self._staff_user()
            key = self._api_key()
            logins = load_people()
        # Outside that transaction: each recording commits on its own.
        loaded = demo.load(count)
        # gunicorn reads BIND (from the environment or .env, which the settings loaded).
        base = str(options["base_url"] or demo.base_url(os.environ.get("BIND"))).rstrip("/")
        busy = loaded.busy_extension
        w = self.stdout.write
        w(
            f"Demo data ready: {loaded.calls} calls ({loaded.created} new, "
            f"{loaded.recorded} recordings added); existing calls were kept as they are."
        )
        w("")
        w(f"Staff user:  {DEMO_USER}")
        w(f"Password:    {password}")
        w(f"API key:     {key}")
        w("(The key may query and change calls: AddMarker and AttachMetaData work with it.)")
        w("")
        w("Directory log-ins (each sees the calls the directory gives them):")
        for login in logins:
            person = login.person
            owns = f", extension {', '.join(person.extensions)}" if person.extensions else ""
            w(
                f"  {person.username:<11} {login.password}   {person.role}: access "
                f"{person.access}{owns}, times in {person.time_zone}"
            )
        w("(All passwords are shown once; run this command again for new ones.)")
        w("")
        w(f"Admin:       {base}/admin/")
        w(f"Calls:       {base}/calls/")
        if loaded.recorded_call is not None:
            w(f"A recording: {base}{loaded.recorded_call.get_absolute_url()}")
        w("")
        w(f"Example Business API requests (extension {busy} has a call in progress):")
        for response_type in ("XML", "HTML", "TEXT", "JSON"):
            query = urlencode(
                {
                    "action": "GetCallURL",
                    "apiKey": key,
                    "responseType": response_type,
                    "extension": busy,
                    "status": "ongoing,last",
                }
            )
            w(f"  {base}/verba/api?{query}")
        w("")
        w("Changing a call (a marker, a custom field) with the same key:")
        for params in (
            {"action": "AddMarker", "mname": "Follow-up", "mstart": "4", "mend": "5"},
            {"action": "AttachMetaData", "ticket": "T-9999"},
        ):
            query = urlencode({**params, "apiKey": key, "extension": busy, "status": "last"})
            w(f"  {base}/verba/api?{query}")
        w("")
        w("More to paste, with the key and the agent's password above:")
        w('  docs/api.md, "Try it on the demo".')

    def _staff_user(self) -> str:
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username=DEMO_USER, defaults={"email": "demo@example.com"}
        )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        user.save()
        user.user_permissions.add(
            Permission.objects.get(codename="view_call", content_type__app_label="calls")
        )
        return password

    def _api_key(self) -> str:
        existing = ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True).first()
        if existing is not None:
            # A demo loaded before keys could change calls gets that permission now.
            ApiKey.objects.filter(pk=existing.pk).update(can_query=True, can_change=True)
            return rotate_api_key(existing)
        _, plaintext = create_api_key(DEMO_KEY_NAME, can_ingest=True, can_change=True)
        return plaintext
