import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from otc.models import Channel
from otc.services import Actor


def command_actor(username: str | None) -> Actor:
    """The operator a command acts as: a staff user by name, or the shell user."""
    if not username:
        return Actor(label=f"command:{getpass.getuser()}", channel=Channel.COMMAND)
    user = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
    if user is None:
        raise CommandError(f"No active staff user {username!r}.")
    return Actor.for_user(user, Channel.COMMAND)
