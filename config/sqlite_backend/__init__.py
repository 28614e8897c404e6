"""SQLite with its real bound-parameter limit (see ``base.py``).

Selected automatically by ``config.settings.base`` whenever ``DATABASE_URL`` is SQLite.
"""
