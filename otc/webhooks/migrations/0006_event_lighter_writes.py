"""Less work for every event written (the quote sweep writes one per expired quote): two of
the event table's eight indexes were never used, the customer's own (every lookup by
customer uses one of the composite indexes that start with it) and ``type``'s ``LIKE`` index
(a type is only ever compared whole); the plain ``type`` index stays, renamed. And the
customer is no longer a checked constraint: like ``order_id``, it is a copy of a key checked
where it comes from (the order's customer, or a test event's endpoint's), written in that
row's transaction (Django still deletes a customer's events with the customer). On SQLite the constraint stays until the table is next rebuilt.

``AlterField`` would drop and re-add things this way does not touch."""

import django.db.models.deletion
from django.db import migrations, models

_OLD_TYPE_INDEX = "webhooks_event_type_94169249"
_NEW_TYPE_INDEX = "webhooks_event_type"
_CUSTOMER_INDEX = "webhooks_event_customer_id_cdcfcaed"
_CUSTOMER_CONSTRAINT = "webhooks_event_customer_id_cdcfcaed_fk_accounts_customer_id"


def _forwards(apps, schema_editor) -> None:
    execute = schema_editor.execute
    execute(f'DROP INDEX IF EXISTS "{_CUSTOMER_INDEX}"')
    if schema_editor.connection.vendor == "postgresql":
        execute(f'ALTER TABLE "webhooks_event" DROP CONSTRAINT IF EXISTS "{_CUSTOMER_CONSTRAINT}"')
        execute(f'DROP INDEX IF EXISTS "{_OLD_TYPE_INDEX}_like"')
        execute(f'ALTER INDEX "{_OLD_TYPE_INDEX}" RENAME TO "{_NEW_TYPE_INDEX}"')
    else:  # SQLite cannot rename an index
        execute(f'DROP INDEX IF EXISTS "{_OLD_TYPE_INDEX}"')
        execute(f'CREATE INDEX "{_NEW_TYPE_INDEX}" ON "webhooks_event" ("type")')


def _backwards(apps, schema_editor) -> None:
    execute = schema_editor.execute
    execute(f'CREATE INDEX "{_CUSTOMER_INDEX}" ON "webhooks_event" ("customer_id")')
    if schema_editor.connection.vendor == "postgresql":
        execute(
            f'ALTER TABLE "webhooks_event" ADD CONSTRAINT "{_CUSTOMER_CONSTRAINT}" '
            'FOREIGN KEY ("customer_id") REFERENCES "accounts_customer" ("id") '
            "DEFERRABLE INITIALLY DEFERRED"
        )
        execute(f'ALTER INDEX "{_NEW_TYPE_INDEX}" RENAME TO "{_OLD_TYPE_INDEX}"')
        execute(
            f'CREATE INDEX "{_OLD_TYPE_INDEX}_like" ON "webhooks_event" '
            '("type" varchar_pattern_ops)'
        )
    else:
        execute(f'DROP INDEX IF EXISTS "{_NEW_TYPE_INDEX}"')
        execute(f'CREATE INDEX "{_OLD_TYPE_INDEX}" ON "webhooks_event" ("type")')


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0101_ledger_holds"),
        ("webhooks", "0005_event_order_last_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="customer",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="accounts.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="type",
                    field=models.CharField(max_length=64),
                ),
                migrations.AddIndex(
                    model_name="event",
                    index=models.Index(fields=["type"], name=_NEW_TYPE_INDEX),
                ),
            ],
            database_operations=[migrations.RunPython(_forwards, _backwards)],
        ),
    ]
