"""Running the project's commands in processes of their own, as from a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def manage(env: dict[str, str], *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` with exactly ``env``; ``options`` go to ``subprocess.run``."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **options,
    )
