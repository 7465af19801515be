import random
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import create_api_key, rotate_api_key
from calls.models import Call, Direction

DEMO_USER = "demo"
DEMO_KEY_NAME = "Demo integration"
# Fixed ids make re-runs update the same calls instead of adding more.
_NAMESPACE = uuid.UUID("6f1f4f0e-5b7e-4c1e-9d0a-7c0a11c0ca11")
_FIRST_NAMES = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken"]
_LAST_NAMES = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov"]


class Command(BaseCommand):
    help = (
        "Load demo data (idempotent): a staff user, an API key, a few hundred calls over the "
        "last days. Prints fresh credentials for the user and the key on every run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=400, help="How many calls.")
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the app is served, for the example URLs.",
        )

    def handle(self, *args: object, **options: object) -> None:
        with transaction.atomic():
            password = self._staff_user()
            key = self._api_key()
            extensions = self._calls(int(options["calls"]))  # type: ignore[call-overload]
        base = str(options["base_url"]).rstrip("/")
        busy = extensions[0]
        w = self.stdout.write
        w(f"Demo data ready: {Call.objects.count()} calls on {len(extensions)} extensions.")
        w("")
        w(f"Staff user:  {DEMO_USER}")
        w(f"Password:    {password}")
        w(f"API key:     {key}")
        w("(Both are shown once; run this command again for new ones.)")
        w("")
        w(f"Admin:       {base}/admin/")
        w(f"Calls:       {base}/calls/")
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
            return rotate_api_key(existing)
        _, plaintext = create_api_key(DEMO_KEY_NAME, can_ingest=True)
        return plaintext

    def _calls(self, count: int) -> list[str]:
        rng = random.Random(8856)
        now = timezone.now()
        extensions = [str(8800 + n) for n in range(56, 56 + 36)]
        externals = [f"+4420{rng.randrange(10**7, 10**8)}" for _ in range(80)]
        calls = []
        for n in range(count):
            extension = extensions[n % len(extensions)]
            other = rng.choice(externals + extensions)
            if other == extension:
                other = externals[n % len(externals)]
            direction = rng.choice(list(Direction))
            outbound = direction == Direction.OUTBOUND
            started = now - timedelta(minutes=rng.randrange(10, 60 * 24 * 7))
            length = timedelta(seconds=rng.randrange(8, 1800))
            calls.append(
                Call(
                    id=uuid.uuid5(_NAMESPACE, str(n)),
                    caller_number=extension if outbound else other,
                    caller_name=self._name(rng) if not outbound else "",
                    called_number=other if outbound else extension,
                    called_name=self._name(rng) if outbound else "",
                    started_at=started,
                    ended_at=min(started + length, now - timedelta(minutes=1)),
                    direction=direction,
                    native_id=f"native-{n:06d}",
                    platform_call_id=f"{uuid.uuid5(_NAMESPACE, f'platform-{n}').hex}@pbx",
                    keep=n % 25 == 0,
                )
            )
        # The first extension's newest call is still going on.
        ongoing = calls[0]
        ongoing.started_at = now - timedelta(minutes=3)
        ongoing.ended_at = None
        fields = [f.name for f in Call._meta.concrete_fields if f.name not in ("id", "created_at")]
        Call.objects.bulk_create(
            calls, update_conflicts=True, unique_fields=["id"], update_fields=fields
        )
        return extensions

    @staticmethod
    def _name(rng: random.Random) -> str:
        return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
