"""``POST /hooks/git``: a push to a watched branch of the IaC repository queues a sync.

Authenticated by ``REGISTRY_WEBHOOK_SECRET`` alone (no session, no CSRF token: git hosts
cannot have either), in the two shapes hosts send: GitHub's ``X-Hub-Signature-256:
sha256=<HMAC-SHA256 of the body>`` and GitLab's ``X-Gitlab-Token: <secret>``, both compared
in constant time. Without a secret the endpoint does not exist (404). Pushes to branches the
sync does not read are answered and ignored; a burst of pushes queues one sync.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .repository import matching_branches
from .sync import queue_sync

logger = logging.getLogger(__name__)

_PUSH_EVENTS = {"push", "Push Hook"}  # GitHub's X-GitHub-Event, GitLab's X-Gitlab-Event
_BRANCH_PREFIX = "refs/heads/"


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def authenticated(request: HttpRequest, secret: str) -> JsonResponse | None:
    """``None`` when the request carries the secret, else the 401/403 answer."""
    signature = request.headers.get("X-Hub-Signature-256")
    token = request.headers.get("X-Gitlab-Token")
    if signature is None and token is None:
        return _error(
            401, "missing signature: send X-Hub-Signature-256 (GitHub) or X-Gitlab-Token (GitLab)"
        )
    if signature is not None:
        digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        good = hmac.compare_digest(f"sha256={digest}".encode(), signature.encode())
    else:
        good = hmac.compare_digest(secret.encode(), (token or "").encode())
    return None if good else _error(403, "the signature does not match the shared secret")


@csrf_exempt
def push_webhook(request: HttpRequest) -> JsonResponse:
    """Answer a git host's push event (see the module docstring)."""
    secret = settings.REGISTRY_WEBHOOK_SECRET
    if not secret:
        raise Http404("the git webhook is off (REGISTRY_WEBHOOK_SECRET is not set)")
    if request.method != "POST":
        response = _error(405, "POST a push event")
        response["Allow"] = "POST"
        return response
    refused = authenticated(request, secret)
    if refused is not None:
        logger.warning("git webhook refused: %s", json.loads(refused.content)["error"])
        return refused
    event = request.headers.get("X-GitHub-Event") or request.headers.get("X-Gitlab-Event") or ""
    if event == "ping":
        return JsonResponse({"status": "pong"})
    if event not in _PUSH_EVENTS:
        return JsonResponse({"status": "ignored", "reason": f"not a push event: {event[:50]!r}"})
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body is not JSON")
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if not isinstance(ref, str) or not ref.startswith(_BRANCH_PREFIX):
        return JsonResponse({"status": "ignored", "reason": "not a push to a branch"})
    branch = ref[len(_BRANCH_PREFIX) :]
    if not matching_branches([branch], settings.REGISTRY_MANIFESTS_REPO_BRANCHES):
        return JsonResponse(
            {"status": "ignored", "reason": f"branch {branch[:200]!r} is not synced"}
        )
    if not settings.REGISTRY_MANIFESTS_REPO_URL:
        return JsonResponse(
            {"status": "ignored", "reason": "REGISTRY_MANIFESTS_REPO_URL is not set"}
        )
    run, new = queue_sync("webhook")
    return JsonResponse(
        {"status": "queued" if new else "already queued", "sync": run.pk}, status=202
    )
