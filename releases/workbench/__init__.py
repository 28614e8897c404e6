"""The admin pages of releases: the platform team's workbench (registered by releases.admin;
the site itself is releases.admin_site).

- :mod:`.base`: the change batch every writing view runs in;
- :mod:`.releases`: the release list and page, with its own pages in :mod:`.views` (import,
  export, clone, compare, deployment matrix, timeline);
- :mod:`.pins`: pins, dependencies, deployments.
"""

from .base import PIN_STATE_FIELDS, ReportsChangesAdmin, admin_batch
from .pins import (
    EnvironmentDeploymentAdmin,
    EnvironmentDeploymentInline,
    PinDependencyAdmin,
    RepositoryPinAdmin,
    RepositoryPinInline,
)
from .releases import ReleaseAdmin

__all__ = [
    "PIN_STATE_FIELDS",
    "EnvironmentDeploymentAdmin",
    "EnvironmentDeploymentInline",
    "PinDependencyAdmin",
    "ReleaseAdmin",
    "ReportsChangesAdmin",
    "RepositoryPinAdmin",
    "RepositoryPinInline",
    "admin_batch",
]
