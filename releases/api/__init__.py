"""The REST API for pipelines (CONTRACT §3): tokens, serializers, views and URLs.

Views are thin: every write goes through the services (:mod:`releases.importing`,
:mod:`releases.deployments`) inside one :func:`releases.api.writes.locked_release` block.
"""
