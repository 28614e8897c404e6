"""Gunicorn settings of the web process (Procfile: ``gunicorn -c config/gunicorn.py``).

The API benchmark (``bench/api.py``) runs its server with this file too, both the endpoints
and their floor, so what it measures is what production runs. Each setting can be overridden
on the command line or with ``GUNICORN_CMD_ARGS``.

- ``WEB_CONCURRENCY`` worker processes (default: two per core, plus one), each with
  ``GUNICORN_THREADS`` threads (default 2) of the ``gthread`` worker: keep-alive connections
  from the proxy, and a second request served while the first waits for PostgreSQL or Redis.
  A pipeline's request is short; the timeout (30 s) is for a stuck one.
- ``preload_app``: the application (Django, the URL configuration, every module the views
  import) is loaded once in the master before it forks, so workers start at once, share those
  pages copy-on-write, and a broken deploy fails before any worker starts.
- After the load the master moves every object it made into the garbage collector's permanent
  generation (``gc.freeze``): the collector never scans them again, so collections stay short
  and do not touch (and copy) the shared pages. The first generation is collected every
  50,000 allocations instead of 700: a request makes a few thousand short-lived objects, most
  gone before a collection would find them.
- The access log is the Procfile's (``--access-logfile -``), not set here, so the benchmark
  does not print a line per request.
- ``max_requests`` (with jitter) recycles a worker after some thousands of requests, a guard
  against slow leaks; with a preloaded application a new worker costs a fork.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from typing import Any

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
preload_app = True
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# Behind the proxy that ends TLS (config.settings.production trusts X-Forwarded-Proto).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

GC_THRESHOLD = (50_000, 20, 20)


def when_ready(server: Any) -> None:
    """In the master, after the application is loaded and before the first fork."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
