"""The CI jobs of docs/ci/ work as pasted: their script lines, run by a shell against a live
registry, push the manifest, ask the promotion gate and record the deployment (and fail the job
on a bad manifest or a refused promotion). GitLab's ``before_script`` (``apk add curl jq`` on
the runner's image) is not run: the test needs curl and jq on this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry.models import Environment
from releases.api.models import ApiToken
from releases.exporting import manifest_for
from releases.models import EnvironmentDeployment, Release
from releases.promotion.models import PromotionPolicy

ROOT = Path(__file__).resolve().parent.parent.parent
CI = ROOT / "docs" / "ci"
MANIFEST = """\
version: "1.4"
created_at: "2025-01-15T10:00:00Z"
created_by: "platform-team"
repositories:
  - name: "pytroll/fogpy"
    tag: "v2.6.1"
    commit_sha: "3f9c2a7d1e5b4c8a9f0e6d2b7a1c5e8f4d3b2a19"
    package_version: "2.6.1"
    depends_on: ["pytroll/fogpy_utils"]
  - name: "pytroll/fogpy_utils"
    tag: "fogpy_utils-1.4.2"
    commit_sha: "a41b7c9e2d6f8a0b3c5e7d9f1a2b4c6d8e0f1a3b"
    package_version: "1.4.2"
  - name: "platform/helm-charts"
    tag: "charts-2025.01"
    commit_sha: "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e"
    package_version: null
metadata:
  notes: "Mise en production échelonnée"
"""

pytestmark = pytest.mark.django_db(transaction=True)

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def github_steps(job: str) -> list[tuple[list[str], dict[str, str]]]:
    """Each ``run:`` of the job, as a bash command (GitHub's default shell), with the job's env."""
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    found = workflow["jobs"][job]
    env = {key: str(value) for key, value in found.get("env", {}).items()}
    return [(["bash", "-e", "-c", step["run"]], env) for step in found["steps"] if "run" in step]


def gitlab_steps(job: str) -> list[tuple[list[str], dict[str, str]]]:
    """The job's ``script:`` lines in one POSIX shell, stopping at the first that fails (as the
    runner does), with the job's variables."""
    pipeline = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    found = pipeline[job]
    env = {key: str(value) for key, value in found.get("variables", {}).items()}
    return [(["sh", "-e", "-c", "\n".join(found["script"])], env)]


STEPS = {"github": github_steps, "gitlab": gitlab_steps}
JOBS = {"github": ("register", "deploy"), "gitlab": ("register-release", "record-deployment")}
TAG_VARIABLE = {"github": "GITHUB_REF_NAME", "gitlab": "CI_COMMIT_TAG"}


def run_job(
    system: str,
    job: str,
    workdir: Path,
    server: str,
    token: str,
    tag: str,
    variables: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the job's steps in order, stopping at the first that fails; the output of all the
    steps that ran, as the job's log shows it. ``variables`` override the job's own."""
    output = subprocess.CompletedProcess[str]([], 0, "", "")
    for command, job_env in STEPS[system](job):
        env = {
            "PATH": os.environ["PATH"],
            "REGISTRY_URL": server,
            "REGISTRY_TOKEN": token,
            TAG_VARIABLE[system]: tag,
            **job_env,
            **(variables or {}),
        }
        step = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        output = subprocess.CompletedProcess[str](
            command, step.returncode, output.stdout + step.stdout, output.stderr + step.stderr
        )
        if step.returncode != 0:
            return output
    return output


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of the IaC repository with its manifests/v1.4.yaml."""
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "v1.4.yaml").write_text(MANIFEST)
    return tmp_path


@needs_curl
@needs_jq
@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_the_ci_jobs_push_the_manifest_and_record_the_deployment(
    system: str, checkout: Path, live_server: Any
) -> None:
    _token, key = ApiToken.create_token("iac-pipeline", "write")
    register, deploy = JOBS[system]

    pushed = run_job(system, register, checkout, live_server.url, key, "v1.4")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    answer = json.loads(pushed.stdout)
    assert (answer["version"], answer["action"]) == ("1.4", "created")
    stored = manifest_for("1.4")
    from releases.manifests import parse_manifest

    assert stored == parse_manifest(MANIFEST, source="manifests/v1.4.yaml")

    recorded = run_job(system, deploy, checkout, live_server.url, key, "v1.4")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    deployment = EnvironmentDeployment.objects.get(
        release__version="1.4", environment__name="production"
    )
    assert deployment.namespace == "production-v1-4"
    assert deployment.status == "deployed"
    assert deployment.deployed_at is not None
    assert json.loads(recorded.stdout)["namespace"] == "production-v1-4"

    # The same tag again: the manifest is unchanged, the job still succeeds.
    again = run_job(system, register, checkout, live_server.url, key, "v1.4")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["action"] == "unchanged"


@needs_curl
@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_a_manifest_with_an_error_finding_fails_the_job_and_stores_nothing(
    system: str, checkout: Path, live_server: Any
) -> None:
    _token, key = ApiToken.create_token("iac-pipeline", "write")
    text = MANIFEST
    # The package version no longer matches the tag: an error finding, refused by ?strict=1.
    broken = text.replace('package_version: "2.6.1"', 'package_version: "2.6.2"')
    assert broken != text
    (checkout / "manifests" / "v1.4.yaml").write_text(broken)

    pushed = run_job(system, JOBS[system][0], checkout, live_server.url, key, "v1.4")
    assert pushed.returncode != 0
    assert "version-mismatch" in pushed.stdout  # curl --fail-with-body shows why
    assert not Release.objects.filter(version="1.4").exists()

    # A read token cannot write: the job fails too.
    _token, read_key = ApiToken.create_token("dashboard", "read")
    (checkout / "manifests" / "v1.4.yaml").write_text(text)
    refused = run_job(system, JOBS[system][0], checkout, live_server.url, read_key, "v1.4")
    assert refused.returncode != 0
    assert not Release.objects.filter(version="1.4").exists()


@needs_curl
@needs_jq
@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_the_promotion_gate_stops_the_deploy_job_until_the_policy_is_met(
    system: str, checkout: Path, live_server: Any
) -> None:
    _token, key = ApiToken.create_token("iac-pipeline", "write")
    production = Environment.objects.create(name="production")
    staging = Environment.objects.create(name="staging")
    policy = PromotionPolicy.objects.create(environment=production)
    policy.upstream.add(staging)
    register, deploy = JOBS[system]
    pushed = run_job(system, register, checkout, live_server.url, key, "v1.4")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    # Never live in staging: the gate step fails the job, naming the rule; nothing recorded.
    refused = run_job(system, deploy, checkout, live_server.url, key, "v1.4")
    assert refused.returncode != 0
    assert refused.stdout.splitlines() == [
        "REFUSED upstream: never live in staging, which must run it first",
        "1.4 may not go live in production yet",
    ]
    assert not EnvironmentDeployment.objects.filter(release__version="1.4").exists()

    # The same job for staging (no policy there: nothing to refuse) records it there...
    staged = run_job(
        system, deploy, checkout, live_server.url, key, "v1.4", {"ENVIRONMENT": "staging"}
    )
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert json.loads(staged.stdout)["namespace"] == "staging-v1-4"

    # ... and now production's gate lets the job through to the recording step.
    allowed = run_job(system, deploy, checkout, live_server.url, key, "v1.4")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    gate_line, recorded = allowed.stdout.split("\n", 1)
    assert gate_line.startswith("ok      upstream: live in staging since ")
    assert json.loads(recorded)["namespace"] == "production-v1-4"
    deployment = EnvironmentDeployment.objects.get(
        release__version="1.4", environment__name="production"
    )
    assert deployment.status == "deployed"


@needs_curl
@needs_jq
@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_the_gate_step_fails_the_job_for_a_release_the_registry_does_not_have(
    system: str, checkout: Path, live_server: Any
) -> None:
    _token, key = ApiToken.create_token("iac-pipeline", "write")
    missing = run_job(system, JOBS[system][1], checkout, live_server.url, key, "v9.9")
    assert missing.returncode != 0
    assert json.loads(missing.stdout) == {"detail": "No release 9.9."}  # the body, shown
    assert "404" in missing.stderr
    assert not EnvironmentDeployment.objects.exists()


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_api_guide_shows_the_tested_jobs_verbatim(name: str) -> None:
    guide = (ROOT / "docs" / "api.md").read_text()
    assert f"```yaml\n{(CI / name).read_text()}```" in guide
