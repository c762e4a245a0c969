"""Staff groups (created by otc.0003_operator_groups) get the webhooks admin: operators and
supervisors see events, endpoints and the delivery log and may redeliver; supervisors may
also re-enable an endpoint that was disabled after failures."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    ("webhooks", f"view_{model}")
    for model in ("event", "webhookendpoint", "delivery", "deliveryattempt")
]
OPERATORS = [*VIEW, ("webhooks", "change_delivery")]
SUPERVISORS = [*OPERATORS, ("webhooks", "change_webhookendpoint")]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("webhooks")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, pairs in (("operators", OPERATORS), ("supervisors", SUPERVISORS)):
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        group.permissions.add(
            *[
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in pairs
            ]
        )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    perms = Permission.objects.filter(content_type__app_label="webhooks")
    for group in Group.objects.filter(name__in=["operators", "supervisors"]):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("otc", "0003_operator_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
