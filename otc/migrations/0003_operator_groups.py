"""The desk's two staff groups and what they may do.

operators:   see everything (console and admin, read-only) and approve/reject orders.
supervisors: what operators may, plus edit customers (spread, order limits), their
             memberships, API keys (revoke) and the labels/activity of accounts and wallets.

Permissions are normally created after migrate (post_migrate); they are created here first so
that the groups can be given them on a fresh database.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_MODELS = {
    "accounts": [
        "customer",
        "customermembership",
        "apikey",
        "fiataccount",
        "ledgeraccount",
        "journalentry",
        "posting",
    ],
    "wallets": ["wallet"],
    "otc": ["order", "ordertransition", "orderapproval", "idempotencyrecord"],
}
OPERATOR_EXTRA = [("otc", "approve_order")]
SUPERVISOR_EXTRA = [
    ("accounts", "add_customer"),
    ("accounts", "change_customer"),
    ("accounts", "add_customermembership"),
    ("accounts", "change_customermembership"),
    ("accounts", "delete_customermembership"),
    ("accounts", "change_apikey"),
    ("accounts", "change_fiataccount"),
    ("wallets", "change_wallet"),
]


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codename in pairs:
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    view = [(app, f"view_{model}") for app, models in VIEW_MODELS.items() for model in models]
    operators, _ = Group.objects.get_or_create(name="operators")
    operators.permissions.add(*_permissions(apps, view + OPERATOR_EXTRA))
    supervisors, _ = Group.objects.get_or_create(name="supervisors")
    supervisors.permissions.add(*_permissions(apps, view + OPERATOR_EXTRA + SUPERVISOR_EXTRA))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["operators", "supervisors"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("otc", "0002_orderapproval"),
        ("accounts", "0002_ledger_database_guards"),
        ("wallets", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
