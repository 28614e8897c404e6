"""Talking to git hosts: hardened ``ls-remote``, per-host credentials, cached partial clones.

Nothing here imports Django models; settings are read only by the ``*_from_settings``
functions, so checks and tests can pass their own policy.
"""
