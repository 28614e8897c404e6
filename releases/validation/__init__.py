"""Online validation: checks of pins against git hosts and a package index.

``checks`` holds the pure judges (plain data in, codec findings out), ``package_index`` the
PyPI-compatible JSON API client, ``online`` the orchestration of one ``ls-remote`` per distinct
URL; those three import no Django models. On top of them: ``models`` (``ValidationRun``),
``runs`` (ask for, carry out and record runs), ``tasks`` (Celery shells) and ``schedule`` (the
beat schedule of live releases).
"""
