"""The admin registrations of releases; the model admins and their pages live in
:mod:`releases.workbench`."""

# Other concerns register their models in releases/<concern>/admin.py, imported here by one
# line each at the end of this file (from .validation import admin as validation_admin).
from .api import admin as api_admin  # noqa: F401
from .gitops import admin as gitops_admin  # noqa: F401
from .notion import admin as notion_admin  # noqa: F401
from .promotion import admin as promotion_admin  # noqa: F401
from .workbench import (  # noqa: F401 - registered on import
    EnvironmentDeploymentAdmin,
    PinDependencyAdmin,
    ReleaseAdmin,
    ReportsChangesAdmin,
    RepositoryPinAdmin,
    admin_batch,
)
