from django.db import migrations


class Migration(migrations.Migration):
    """The customer's spread became the pair's platform FX markup plus the customer's own
    schedule (otc 0004 copied it); the column goes."""

    dependencies = [
        ("accounts", "0003_assets"),
        ("otc", "0004_pairs_fees_legs"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="customer", name="spread_at_most_50pct"),
        migrations.RemoveField(model_name="customer", name="spread_bps"),
    ]
