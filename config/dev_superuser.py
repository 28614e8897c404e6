"""Create the development superuser admin / admin if it does not exist (``make run``).

Only under ``config.settings.local``: a well-known password must never reach a server.
Run as ``python -m config.dev_superuser``.
"""

import os

import django

LOCAL_SETTINGS = "config.settings.local"
USERNAME = "admin"
PASSWORD = "admin"  # noqa: S105 - the documented login of a local development database


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", LOCAL_SETTINGS)
    if os.environ["DJANGO_SETTINGS_MODULE"] != LOCAL_SETTINGS:
        print(f"Not creating {USERNAME!r}: only done under {LOCAL_SETTINGS}.")
        return
    django.setup()

    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if user_model._default_manager.filter(username=USERNAME).exists():
        return
    user_model._default_manager.create_superuser(
        username=USERNAME, email="admin@localhost", password=PASSWORD
    )
    print(f"Created the development superuser {USERNAME!r}.")


if __name__ == "__main__":
    main()
