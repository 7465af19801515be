from datetime import timedelta

import factory
from django.utils import timezone

from calls.models import Call, Direction


class CallFactory(factory.django.DjangoModelFactory):
    """A finished five-minute call that started an hour ago; override what a test needs."""

    class Meta:
        model = Call

    caller_number = factory.Sequence(lambda n: f"+4420{7000000 + n}")
    caller_name = "Ada Lovelace"
    called_number = "8856"
    called_name = "Help desk"
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ended_at = factory.LazyAttribute(lambda call: call.started_at + timedelta(minutes=5))
    direction = Direction.INBOUND
    native_id = factory.Sequence(lambda n: f"native-{n}")
    platform_call_id = factory.Sequence(lambda n: f"platform-{n}@pbx")
