from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from directory.models import Group
from retention.models import RetentionRule
from retention.services import command_user, delete_rule, save_rule
from shared.directions import Direction


class Command(BaseCommand):
    help = (
        "Create or change the retention rule NAME (the options given replace its conditions), "
        "or delete it with --delete. Every change is recorded with who and when."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--days", type=int, help="Keep matching calls this many days after their end."
        )
        parser.add_argument(
            "--number-prefix",
            default="",
            metavar="P",
            help="Match calls where the caller or the called number starts with P.",
        )
        parser.add_argument("--direction", choices=Direction.values, default="")
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            metavar="G",
            help="Match calls in the own scope of this directory group's members (repeatable).",
        )
        parser.add_argument("--delete", action="store_true", help="Delete the rule.")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        rule = RetentionRule.objects.filter(name=name).first()
        if options["delete"]:
            if rule is None:
                raise CommandError(f"There is no retention rule named {name}.")
            delete_rule(rule, by=command_user())
            self.stdout.write(f"Deleted the retention rule {name}.")
            return
        if options["days"] is None:
            raise CommandError("--days is required (or --delete).")
        created = rule is None
        rule = rule or RetentionRule(name=name)
        rule.keep_days = options["days"]
        rule.number_prefix = options["number_prefix"]
        rule.direction = options["direction"]
        groups = list(Group.objects.filter(name__in=options["group"]))
        unknown = sorted(set(options["group"]) - {g.name for g in groups})
        if unknown:
            raise CommandError(f"No directory group named {', '.join(unknown)}.")
        try:
            save_rule(rule, by=command_user(), groups=groups)
        except ValidationError as exc:
            raise CommandError(_sentence(exc)) from None
        self.stdout.write(f"{'Created' if created else 'Saved'} the retention rule {rule}.")


def _sentence(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
