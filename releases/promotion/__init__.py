"""Promotion: each environment's policy, the gate that applies it, and its enforcement.

``models`` (policies, freeze windows, approvals, overrides), ``rules`` (small named checks over
plain data), ``gate`` (gathers the facts of one release and environment, runs the rules),
``enforcement`` (every write that makes a deployment live is checked when its change batch
ends), ``approvals`` (giving one), ``admin``, ``api``.
"""
