"""The admin registrations of releases; the model admins and their pages live in
:mod:`releases.workbench`."""

from .workbench import (  # noqa: F401 - registered on import
    EnvironmentDeploymentAdmin,
    PinDependencyAdmin,
    ReleaseAdmin,
    ReportsChangesAdmin,
    RepositoryPinAdmin,
    admin_batch,
)

# Other concerns register their models in releases/<concern>/admin.py, imported here by one
# line each at the end of this file (from .validation import admin as validation_admin).
