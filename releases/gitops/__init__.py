"""Git-backed manifests: mirror the IaC repository's ``manifests/`` folder into the registry.

``repository`` (the cached clone, trees and blobs), ``sync`` (which file of which branch is
each version's, and the per-file imports), ``models`` (``ManifestSource``, ``ManifestSync``),
``schedule`` (the beat entry), ``webhook`` (push events), ``tasks`` and ``admin`` (shells).
"""
