"""Online validation: checks of pins against git hosts and a package index.

``checks`` holds the pure judges (plain data in, codec findings out), ``package_index`` the
PyPI-compatible JSON API client, ``online`` the orchestration of one ``ls-remote`` per distinct
URL. No Django models here: validation runs and their rows build on top.
"""
