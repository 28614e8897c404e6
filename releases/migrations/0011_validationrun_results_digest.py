# Validation runs keep a digest of the results they wrote, so that a later run of the release
# with the same results copies them in the database (releases.validation.runs._finish).
# Runs made before have none: the next run of each release writes its results as before.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0010_approval_pins_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="validationrun",
            name="results_digest",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddIndex(
            model_name="validationrun",
            index=models.Index(
                condition=models.Q(("results_digest", ""), _negated=True),
                fields=["results_digest"],
                name="validationrun_results_digest",
            ),
        ),
    ]
