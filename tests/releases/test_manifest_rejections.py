"""Every way ``import_manifest`` refuses a manifest (CONTRACT §1): exit 1, a located error, and
nothing written — neither rows nor history records — on an empty registry and on one that
already holds the example releases (whose 1.4 each bad file would otherwise replace).
"""

import copy
import io
import json
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from registry.models import Environment, Repository
from releases.manifests import ManifestRejected, dump_manifest, parse_manifest
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
MODELS = (Release, RepositoryPin, PinDependency, EnvironmentDeployment, Repository, Environment)

# A valid manifest for version 1.4, different from the example 1.4 in every part: a new
# repository, a new environment, other pins and metadata. Each case below breaks one thing.
BASE = textwrap.dedent(
    """\
    version: "1.4"
    created_at: "2025-03-01T10:00:00Z"
    created_by: "rejection-tests"
    environments:
      production:
        deployed_at: "2025-03-02T10:00:00Z"
        namespace: "prod-v1.4-new"
        status: "deployed"
      canary:
        namespace: "canary-v1.4"
    repositories:
      - name: "fogpy"
        tag: "v9.0.0"
        commit_sha: "0123456789abcdef0123456789abcdef01234567"
        package_version: "9.0.0"
      - name: "fogpy_utils"
        tag: "v9.1.0"
        commit_sha: null
        package_version: "9.1.0"
        depends_on: ["fogpy"]
      - name: "brand-new-repo"
        tag: "v1.0.0"
        commit_sha: "abcdef1"
        url: "https://github.com/org/brand-new-repo.git"
    metadata:
      notes: "would replace 1.4"
      ticket: "REL-999"
    """
)
BASE_TREE = {
    "version": "1.4",
    "created_at": "2025-03-01T10:00:00Z",
    "created_by": "rejection-tests",
    "environments": {
        "production": {
            "deployed_at": "2025-03-02T10:00:00Z",
            "namespace": "prod-v1.4-new",
            "status": "deployed",
        },
        "canary": {"namespace": "canary-v1.4"},
    },
    "repositories": [
        {
            "name": "fogpy",
            "tag": "v9.0.0",
            "commit_sha": "0123456789abcdef0123456789abcdef01234567",
            "package_version": "9.0.0",
        },
        {
            "name": "fogpy_utils",
            "tag": "v9.1.0",
            "commit_sha": None,
            "package_version": "9.1.0",
            "depends_on": ["fogpy"],
        },
        {
            "name": "brand-new-repo",
            "tag": "v1.0.0",
            "commit_sha": "abcdef1",
            "url": "https://github.com/org/brand-new-repo.git",
        },
    ],
    "metadata": {"notes": "would replace 1.4", "ticket": "REL-999"},
}


# Where "caf\xe9" puts its Latin-1 byte when it replaces the notes.
LATIN_1_AT = BASE.index("would replace 1.4") + len("caf")


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def tree(change) -> str:
    data = copy.deepcopy(BASE_TREE)
    change(data)
    return json.dumps(data, indent=2)


def snapshot() -> dict[str, list[dict]]:
    """Every row and every history record the import could touch."""
    state = {}
    for model in MODELS:
        state[model.__name__] = list(model.objects.order_by("pk").values())
        state[f"{model.__name__} history"] = list(model.history.order_by("history_id").values())
    return state


def run_import(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_manifest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_rejected(*args: str) -> tuple[list[str], CommandError]:
    """Run the import that must be refused; the error lines it printed, and the error."""
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_manifest", *args, stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1
    return err.getvalue().splitlines(), caught.value


@pytest.fixture(params=["empty registry", "examples imported"])
def before(request, db):
    """The registry's state before the bad import: empty, or holding examples/manifests."""
    if request.param == "examples imported":
        run_import(str(EXAMPLES))
        assert sorted(Release.objects.values_list("version", flat=True)) == [
            "1.2",
            "1.3",
            "1.4",
            "1.5",
        ]
        assert Release.history.count() == 4
    return snapshot()


def test_the_base_manifest_is_accepted_and_would_change_the_registry(before, tmp_path):
    # Without this, "nothing changed" below could hold because the base itself does nothing.
    path = tmp_path / "v1.4.yaml"
    path.write_text(BASE, encoding="utf-8")
    run_import(str(path))
    after = snapshot()
    for part in ("Release", "RepositoryPin", "Repository", "Environment", "EnvironmentDeployment"):
        assert after[part] != before[part], part
        assert after[f"{part} history"] != before[f"{part} history"], part
    assert Release.objects.get(version="1.4").notes == "would replace 1.4"


# (case id, file name, text, lines the import prints; "{file}" is the file's path)
CASES = [
    # --- unreadable ---
    (
        "unterminated YAML string",
        "v1.4.yaml",
        edit('tag: "v9.0.0"', 'tag: "v9.0.0'),
        ["{file}: (document) (line 14): error: not valid YAML: did not find expected key [syntax]"],
    ),
    (
        "YAML with a tab for indentation",
        "v1.4.yaml",
        edit('    tag: "v9.1.0"', '\ttag: "v9.1.0"'),
        [
            "{file}: (document) (line 17): error: not valid YAML: found character that cannot "
            "start any token [syntax]"
        ],
    ),
    (
        "YAML that is not UTF-8",
        "v1.4.yaml",
        edit("would replace 1.4", "caf\xe9").encode("latin-1"),
        [f"{{file}}: (document): error: not UTF-8 text (byte {LATIN_1_AT}) [encoding]"],
    ),
    (
        "empty YAML",
        "v1.4.yaml",
        "# only a comment\n",
        ["{file}: (document): error: the document is empty [empty]"],
    ),
    (
        "JSON with a trailing comma",
        "v1.4.json",
        json.dumps(BASE_TREE, indent=2).replace('"REL-999"', '"REL-999",'),
        [
            "{file}: (document) (line 41): error: not valid JSON: Expecting property name "
            "enclosed in double quotes (column 3) [syntax]"
        ],
    ),
    (
        "JSON cut short",
        "v1.4.json",
        json.dumps(BASE_TREE)[:100],
        [
            "{file}: (document) (line 1): error: not valid JSON: Unterminated string starting at "
            "(column 91) [syntax]"
        ],
    ),
    # --- not a mapping ---
    (
        "YAML list",
        "v1.4.yaml",
        "- version: '1.4'\n",
        ["{file}: (document) (line 1): error: the document must be a mapping, not a list [type]"],
    ),
    (
        "YAML scalar",
        "v1.4.yaml",
        "just some text\n",
        ["{file}: (document) (line 1): error: the document must be a mapping, not a string [type]"],
    ),
    (
        "JSON list",
        "v1.4.json",
        json.dumps([BASE_TREE]),
        ["{file}: (document): error: the document must be a mapping, not a list [type]"],
    ),
    # --- missing required keys ---
    (
        "missing version",
        "v1.4.yaml",
        edit('version: "1.4"\n', ""),
        ["{file}: version: error: the key 'version' is required [missing]"],
    ),
    (
        "missing repositories",
        "v1.4.yaml",
        BASE.split("repositories:")[0],
        ["{file}: repositories: error: the key 'repositories' is required [missing]"],
    ),
    (
        "empty repositories",
        "v1.4.yaml",
        BASE.split("repositories:")[0] + "repositories: []\n",
        ["{file}: repositories (line 11): error: at least one repository is required [missing]"],
    ),
    (
        "missing name",
        "v1.4.yaml",
        edit('  - name: "fogpy_utils"\n    tag', "  - tag"),
        ["{file}: repositories[1].name: error: the key 'name' is required [missing]"],
    ),
    (
        "missing tag",
        "v1.4.yaml",
        edit('    tag: "v1.0.0"\n', ""),
        ["{file}: repositories[2].tag: error: the key 'tag' is required [missing]"],
    ),
    (
        "missing namespace",
        "v1.4.yaml",
        edit('    namespace: "canary-v1.4"\n', '    status: "planned"\n'),
        ["{file}: environments.canary.namespace: error: the key 'namespace' is required [missing]"],
    ),
    (
        "missing tag in JSON",
        "v1.4.json",
        tree(lambda t: t["repositories"][2].pop("tag")),
        ["{file}: repositories[2].tag: error: the key 'tag' is required [missing]"],
    ),
    # --- wrong types ---
    (
        "tag is a number",
        "v1.4.yaml",
        edit('tag: "v1.0.0"', "tag: 5"),
        [
            "{file}: repositories[2].tag (line 22): error: must be a string, not a number; quote "
            'it ("5") [type]'
        ],
    ),
    (
        "tag is null",
        "v1.4.yaml",
        edit('tag: "v1.0.0"', "tag: null"),
        ["{file}: repositories[2].tag (line 22): error: must be a string, not null [type]"],
    ),
    (
        "repositories is a string",
        "v1.4.yaml",
        BASE.split("repositories:")[0] + 'repositories: "x"\n',
        ["{file}: repositories (line 11): error: must be a list, not a string [type]"],
    ),
    (
        "depends_on is a string",
        "v1.4.yaml",
        edit('depends_on: ["fogpy"]', 'depends_on: "fogpy"'),
        [
            "{file}: repositories[1].depends_on (line 20): error: must be a list of repository "
            "names, not a string [type]"
        ],
    ),
    (
        "a repository is a string",
        "v1.4.yaml",
        edit('  - name: "brand-new-repo"\n', '  - "brand-new-repo"\n  - name: "brand-new-repo"\n'),
        ["{file}: repositories[2] (line 21): error: must be a mapping, not a string [type]"],
    ),
    (
        "environments is a list",
        "v1.4.json",
        tree(lambda t: t.update(environments=["production"])),
        [
            "{file}: environments: error: must be a mapping of environment name to deployment, "
            "not a list [type]"
        ],
    ),
    (
        "metadata is a string",
        "v1.4.yaml",
        BASE.split("metadata:")[0] + 'metadata: "none"\n',
        ["{file}: metadata (line 25): error: must be a mapping, not a string [type]"],
    ),
    (
        "notes is a list",
        "v1.4.json",
        tree(lambda t: t["metadata"].update(notes=["a", "b"])),
        ["{file}: metadata.notes: error: must be a string or null, not a list [type]"],
    ),
    (
        "package_version is a JSON number",
        "v1.4.json",
        tree(lambda t: t["repositories"][0].update(package_version=9)),
        ["{file}: repositories[0].package_version: error: must be a string, not a number [type]"],
    ),
    # --- duplicate repository names ---
    (
        "duplicate repository",
        "v1.4.yaml",
        edit('name: "brand-new-repo"', 'name: "fogpy"'),
        [
            "{file}: repositories[2].name (line 21): error: duplicate repository 'fogpy' (also "
            "repositories[0]) [duplicate]"
        ],
    ),
    # --- unknown keys ---
    (
        "tga instead of tag",
        "v1.4.yaml",
        edit('tag: "v1.0.0"', 'tga: "v1.0.0"'),
        [
            "{file}: repositories[2].tga (line 22): error: unknown key 'tga'; did you mean "
            "'tag'? [unknown-key]",
            "{file}: repositories[2].tag: error: the key 'tag' is required [missing]",
        ],
    ),
    (
        "enviroments",
        "v1.4.yaml",
        edit("environments:", "enviroments:"),
        [
            "{file}: enviroments (line 4): error: unknown key 'enviroments'; did you mean "
            "'environments'? [unknown-key]"
        ],
    ),
    (
        "namepsace",
        "v1.4.yaml",
        edit('namespace: "canary-v1.4"', 'namepsace: "canary-v1.4"'),
        [
            "{file}: environments.canary.namepsace (line 10): error: unknown key 'namepsace'; "
            "did you mean 'namespace'? [unknown-key]",
            "{file}: environments.canary.namespace: error: the key 'namespace' is required "
            "[missing]",
        ],
    ),
    (
        "unknown top-level key without a close match",
        "v1.4.yaml",
        edit("metadata:", 'colour: "blue"\nmetadata:'),
        [
            "{file}: colour (line 25): error: unknown key 'colour'; expected one of version, "
            "created_at, created_by, environments, repositories, metadata [unknown-key]"
        ],
    ),
    (
        "unknown key in JSON",
        "v1.4.json",
        tree(lambda t: t["repositories"][0].update(commit="abcdef1")),
        [
            "{file}: repositories[0].commit: error: unknown key 'commit'; did you mean "
            "'commit_sha'? [unknown-key]"
        ],
    ),
    # --- depends_on naming no entry ---
    (
        "depends_on a missing entry",
        "v1.4.yaml",
        edit('depends_on: ["fogpy"]', 'depends_on: ["fogpy", "fogpy_utlis"]'),
        [
            "{file}: repositories[1].depends_on[1] (line 20): error: 'fogpy_utlis' is not a "
            "repository of this manifest; did you mean 'fogpy_utils'? [unknown-reference]"
        ],
    ),
    (
        "depends_on a repository of another release",
        "v1.4.json",
        tree(lambda t: t["repositories"][2].update(depends_on=["chempipe-plugins"])),
        [
            "{file}: repositories[2].depends_on[0]: error: 'chempipe-plugins' is not a repository "
            "of this manifest [unknown-reference]"
        ],
    ),
    # --- YAML aliases ---
    (
        "recursive alias",
        "v1.4.yaml",
        edit('  ticket: "REL-999"\n', '  ticket: &t ["REL-999", *t]\n'),
        ["{file}: metadata.ticket[1]: error: a recursive alias is not allowed [alias]"],
    ),
    (
        "merge key",
        "v1.4.yaml",
        edit('  ticket: "REL-999"\n', "  base: &b {a: 1}\n  more:\n    <<: *b\n"),
        ["{file}: metadata.more.<< (line 29): error: merge keys (<<) are not supported [yaml]"],
    ),
    # --- duplicate keys ---
    (
        "duplicate key in a YAML mapping",
        "v1.4.yaml",
        edit('    commit_sha: "abcdef1"\n', '    commit_sha: "abcdef1"\n    tag: "v1.0.1"\n'),
        [
            "{file}: repositories[2].tag (line 24): error: duplicate key 'tag' (first on line 22) "
            "[duplicate-key]"
        ],
    ),
    (
        "duplicate top-level key in YAML",
        "v1.4.yaml",
        edit('created_by: "rejection-tests"\n', 'created_by: "rejection-tests"\nversion: "1.5"\n'),
        [
            "{file}: version (line 4): error: duplicate key 'version' (first on line 1) "
            "[duplicate-key]"
        ],
    ),
    (
        "duplicate key in a JSON object",
        "v1.4.json",
        json.dumps(BASE_TREE, indent=2).replace(
            '"tag": "v1.0.0",', '"tag": "v1.0.0",\n      "tag": "v1.0.1",'
        ),
        ["{file}: repositories[2].tag: error: duplicate key 'tag' [duplicate-key]"],
    ),
    # --- implicit typing ---
    (
        "unquoted version 1.10",
        "v1.4.yaml",
        edit('version: "1.4"', "version: 1.10"),
        [
            "{file}: version (line 1): error: '1.10' would be read as the number 1.1; quote it "
            '("1.10") '
            "to keep it as written [coercion]"
        ],
    ),
    (
        "unquoted tag yes",
        "v1.4.yaml",
        edit('tag: "v1.0.0"', "tag: yes"),
        [
            "{file}: repositories[2].tag (line 22): error: 'yes' would be read as true; quote it "
            '("yes") '
            "to keep it as written [coercion]"
        ],
    ),
    (
        "unquoted tag on",
        "v1.4.yaml",
        edit('tag: "v9.1.0"', "tag: on"),
        [
            "{file}: repositories[1].tag (line 17): error: 'on' would be read as true; quote it "
            '("on") '
            "to keep it as written [coercion]"
        ],
    ),
    (
        "unquoted namespace off",
        "v1.4.yaml",
        edit('namespace: "canary-v1.4"', "namespace: off"),
        [
            "{file}: environments.canary.namespace (line 10): error: 'off' would be read as false; "
            'quote it ("off") to keep it as written [coercion]'
        ],
    ),
    (
        "unquoted timestamp",
        "v1.4.yaml",
        edit('created_at: "2025-03-01T10:00:00Z"', "created_at: 2025-03-01T10:00:00Z"),
        [
            "{file}: created_at (line 2): error: '2025-03-01T10:00:00Z' would be read as a "
            'date/time object; quote it ("2025-03-01T10:00:00Z") to keep it as written [coercion]'
        ],
    ),
    (
        "unquoted date in metadata",
        "v1.4.yaml",
        edit('ticket: "REL-999"', "released: 2025-03-01"),
        [
            "{file}: metadata.released (line 27): error: '2025-03-01' would be read as a "
            'date/time object; quote it ("2025-03-01") to keep it as written [coercion]'
        ],
    ),
    (
        "octal package version",
        "v1.4.yaml",
        edit('package_version: "9.1.0"', "package_version: 010"),
        [
            "{file}: repositories[1].package_version (line 19): error: '010' would be read as the "
            'number 8; quote it ("010") to keep it as written [coercion]'
        ],
    ),
    (
        "octal in metadata",
        "v1.4.yaml",
        edit('ticket: "REL-999"', "ticket: 010"),
        [
            "{file}: metadata.ticket (line 27): error: '010' would be read as the number 8; "
            'quote it ("010") to keep it as written [coercion]'
        ],
    ),
    (
        "float with trailing zero in metadata",
        "v1.4.yaml",
        edit('ticket: "REL-999"', "threshold: 0.50"),
        [
            "{file}: metadata.threshold (line 27): error: '0.50' would be read as the number 0.5; "
            'quote it ("0.50") to keep it as written [coercion]'
        ],
    ),
    (
        "JSON number 1.10 in metadata",
        "v1.4.json",
        json.dumps(BASE_TREE, indent=2).replace('"ticket": "REL-999"', '"min_version": 1.10'),
        [
            "{file}: metadata.min_version: error: the number 1.10 cannot be kept exactly as "
            'written; quote it ("1.10") [coercion]'
        ],
    ),
    (
        "JSON NaN in metadata",
        "v1.4.json",
        json.dumps(BASE_TREE, indent=2).replace('"ticket": "REL-999"', '"ratio": NaN'),
        [
            "{file}: metadata.ratio: error: the number NaN cannot be kept exactly as written; "
            'quote it ("NaN") [coercion]'
        ],
    ),
    # --- credentials, bad values ---
    (
        "user and password in the url",
        "v1.4.yaml",
        edit("https://github.com", "https://deploy:s3cr3t@github.com"),
        [
            "{file}: repositories[2].url (line 24): error: credentials must not be written into "
            "the URL; give them per host through REGISTRY_GIT_CREDENTIALS [credentials]"
        ],
    ),
    (
        "token in the url",
        "v1.4.json",
        tree(
            lambda t: t["repositories"][0].update(url="https://ghp_abc123@github.com/org/fogpy.git")
        ),
        [
            "{file}: repositories[0].url: error: credentials must not be written into the URL; "
            "give them per host through REGISTRY_GIT_CREDENTIALS [credentials]"
        ],
    ),
    (
        "token in an upper-case https url",
        "v1.4.json",
        tree(lambda t: t["repositories"][0].update(url="HTTPS://ghp_SECRET@github.com/org/a.git")),
        [
            "{file}: repositories[0].url: error: credentials must not be written into the URL; "
            "give them per host through REGISTRY_GIT_CREDENTIALS [credentials]"
        ],
    ),
    (
        "user and token in an scp-style url",
        "v1.4.json",
        tree(lambda t: t["repositories"][0].update(url="oauth2:glpat-SECRET@gitlab.com:org/b.git")),
        [
            "{file}: repositories[0].url: error: credentials must not be written into the URL; "
            "give them per host through REGISTRY_GIT_CREDENTIALS [credentials]"
        ],
    ),
    (
        "password with no host, not echoed",
        "v1.4.json",
        tree(lambda t: t["repositories"][0].update(url="https://user:SECRET@")),
        [
            "{file}: repositories[0].url: error: credentials must not be written into the URL; "
            "give them per host through REGISTRY_GIT_CREDENTIALS [credentials]"
        ],
    ),
    (
        "a YAML integer of 5,000 digits",
        "v1.4.yaml",
        edit('  ticket: "REL-999"', "  ticket: " + "9" * 5000),
        [
            "{file}: metadata.ticket (line 27): error: a number of 5000 characters is too long "
            "(at most 100); quote it [too-long]"
        ],
    ),
    (
        "a JSON integer of 5,000 digits",
        "v1.4.json",
        json.dumps(BASE_TREE, indent=2).replace('"REL-999"', "9" * 5000),
        [
            "{file}: metadata.ticket: error: a number of 5000 characters is too long "
            "(at most 100); quote it [too-long]"
        ],
    ),
    (
        "JSON minus zero",
        "v1.4.json",
        json.dumps(BASE_TREE, indent=2).replace('"REL-999"', "-0"),
        [
            "{file}: metadata.ticket: error: the number -0 cannot be kept exactly as written; "
            'quote it ("-0") [coercion]'
        ],
    ),
    (
        "a YAML set in metadata",
        "v1.4.yaml",
        edit('  ticket: "REL-999"', "  ticket: !!set {a, b}"),
        [
            "{file}: metadata.ticket (line 27): error: the YAML tag tag:yaml.org,2002:set is not "
            "supported [yaml]"
        ],
    ),
    (
        "a coerced key inside metadata is located at the key",
        "v1.4.yaml",
        edit('  ticket: "REL-999"', '  ticket: "REL-999"\n  1.10: "x"'),
        [
            "{file}: metadata[\"1.10\"] (line 28): error: '1.10' would be read as the number "
            '1.1; quote it ("1.10") to keep it as written [coercion]'
        ],
    ),
    (
        "an explicit int tag on a version",
        "v1.4.yaml",
        edit('version: "1.4"', 'version: !!int "1.4"'),
        ["{file}: version (line 1): error: '1.4' cannot be read as tag:yaml.org,2002:int [yaml]"],
    ),
    (
        "an explicit bool tag on a tag",
        "v1.4.yaml",
        edit('tag: "v9.0.0"', 'tag: !!bool "v9"'),
        [
            "{file}: repositories[0].tag (line 13): error: 'v9' cannot be read as "
            "tag:yaml.org,2002:bool [yaml]"
        ],
    ),
    (
        "an explicit timestamp tag",
        "v1.4.yaml",
        edit('created_by: "rejection-tests"', 'created_by: !!timestamp "soon"'),
        [
            "{file}: created_by (line 3): error: 'soon' cannot be read as "
            "tag:yaml.org,2002:timestamp [yaml]"
        ],
    ),
    (
        "a python tag is refused before anything is built",
        "v1.4.yaml",
        edit('created_by: "rejection-tests"', 'created_by: !!python/name:os.system "x"'),
        [
            "{file}: created_by (line 3): error: the YAML type "
            "tag:yaml.org,2002:python/name:os.system is not supported [yaml]"
        ],
    ),
    (
        "binary data",
        "v1.4.yaml",
        edit('  ticket: "REL-999"', "  ticket: !!binary aGVsbG8="),
        [
            "{file}: metadata.ticket (line 27): error: the YAML type tag:yaml.org,2002:binary "
            "is not supported [yaml]"
        ],
    ),
    (
        "an explicit null tag on text",
        "v1.4.yaml",
        edit('created_by: "rejection-tests"', 'created_by: !!null "hello"'),
        ["{file}: created_by (line 3): error: 'hello' would be read as null [coercion]"],
    ),
    (
        "a bare equals sign",
        "v1.4.yaml",
        edit('  ticket: "REL-999"', "  ticket: ="),
        [
            "{file}: metadata.ticket (line 27): error: the YAML type tag:yaml.org,2002:value is "
            'not supported; quote it ("=") [yaml]'
        ],
    ),
    (
        "invalid status",
        "v1.4.yaml",
        edit('status: "deployed"', 'status: "deploy"'),
        [
            "{file}: environments.production.status (line 8): error: unknown status 'deploy'; did "
            "you mean 'deployed'? one of planned, in_progress, deployed, failed, retired [choice]"
        ],
    ),
    (
        "invalid git tag name",
        "v1.4.yaml",
        edit('tag: "v1.0.0"', 'tag: "v1.0.0 final"'),
        [
            "{file}: repositories[2].tag (line 22): error: 'v1.0.0 final' is not a valid git tag "
            "name [format]"
        ],
    ),
    (
        "timestamp without an offset",
        "v1.4.yaml",
        edit('deployed_at: "2025-03-02T10:00:00Z"', 'deployed_at: "2025-03-02T10:00:00"'),
        [
            "{file}: environments.production.deployed_at (line 6): error: '2025-03-02T10:00:00' "
            'is not an RFC 3339 time with an offset, e.g. "2025-01-15T10:00:00Z" [format]'
        ],
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "text", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_manifest_is_rejected_with_a_located_error_and_nothing_is_written(
    before, tmp_path, name, text, expected
):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    lines, error = import_rejected(str(path))
    assert lines == [line.format(file=path) for line in expected]
    assert str(error) == "1 of 1 manifest(s) rejected; nothing was written"
    assert snapshot() == before


def test_every_error_in_one_file_is_reported_in_document_order(before, tmp_path):
    # Several mistakes in one file are reported together, each in its place.
    path = tmp_path / "v1.4.yaml"
    text = edit('tag: "v1.0.0"', "tag: 5")
    text = edit("environments:", "enviroments:", text)
    text = edit('version: "1.4"', "version: 1.10", text)
    path.write_text(text, encoding="utf-8")
    lines, _ = import_rejected(str(path))
    assert [line.split(": error:")[0] for line in lines] == [
        f"{path}: version (line 1)",
        f"{path}: enviroments (line 4)",
        f"{path}: repositories[2].tag (line 22)",
    ]
    assert snapshot() == before


def billion_laughs() -> str:
    lines = ['  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
        previous = name
    return BASE.split("metadata:")[0] + "metadata:\n" + "\n".join(lines) + "\n"


def test_yaml_bomb_is_rejected(before, tmp_path):
    path = tmp_path / "v1.4.yaml"
    text = billion_laughs()
    assert len(text) < 1100  # small on disk: the size limit is not what stops it
    path.write_text(text, encoding="utf-8")
    lines, _ = import_rejected(str(path))
    (line,) = lines
    # Where the expansion crossed the bound: deep inside the first block that reaches it.
    assert line == (
        f"{path}: metadata.f[0][3][3][7][3][7]: error: aliases expand beyond the allowed bound "
        "(a YAML bomb?) [too-large]"
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("reference", "where"),
    [("*blob", "metadata.copies[52]"), ("{*blob : 1}", "metadata.copies[52]." + "x" * 40)],
    ids=["as values", "as keys"],
)
def test_aliases_repeating_a_long_string_are_a_bomb_too(before, tmp_path, reference, where):
    # 2,000 references to one 100 KB string: a small file, a 200 MB release.
    text = BASE.replace('  ticket: "REL-999"', '  blob: &blob "' + "x" * 100_000 + '"') + (
        "  copies: [" + ", ".join([reference] * 2000) + "]\n"
    )
    path = tmp_path / "v1.4.yaml"
    path.write_text(text)

    lines, _ = import_rejected(str(path))

    assert lines == [
        # No line: an alias's node carries the line of its anchor, not of the reference.
        # 5 MiB of repeated characters (the size limit) is reached at the 53rd copy.
        f"{path}: {where}: error: aliases expand beyond the allowed bound "
        "(a YAML bomb?) [too-large]"
    ]
    assert snapshot() == before


def test_anchored_blocks_reused_many_times_are_fine(db, tmp_path):
    blocks = "".join(
        f"  block{b}: &b{b}\n" + "".join(f'    key{k}: "{"v" * 40}"\n' for k in range(20))
        for b in range(3)
    )
    uses = "  uses:\n" + "".join(f"    - *b{n % 3}\n" for n in range(1000))
    path = tmp_path / "v1.4.yaml"
    path.write_text(BASE.replace('  ticket: "REL-999"\n', blocks + uses))

    out, _ = run_import(str(path))

    assert "1.4 created" in out
    metadata = Release.objects.get(version="1.4").metadata
    assert metadata is not None
    assert len(metadata["uses"]) == 1000


def test_a_few_aliases_are_fine(db, tmp_path):
    # The bound is for bombs, not for a shared block used twice.
    path = tmp_path / "v7.0.yaml"
    text = edit('version: "1.4"', 'version: "7.0"')
    text = edit(
        '  ticket: "REL-999"\n', '  owners: &owners ["a", "b"]\n  reviewers: *owners\n', text
    )
    path.write_text(text, encoding="utf-8")
    run_import(str(path))
    assert Release.objects.get(version="7.0").metadata == {
        "notes": "would replace 1.4",
        "owners": ["a", "b"],
        "reviewers": ["a", "b"],
    }


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_document_over_the_size_limit_is_rejected(before, tmp_path, suffix):
    path = tmp_path / f"v1.4{suffix}"
    # Canonical text, so that a file exactly at the limit also exports within it.
    path.write_text(dump_manifest(parse_manifest(BASE), suffix[1:]), encoding="utf-8")
    size = path.stat().st_size
    with override_settings(REGISTRY_MANIFEST_MAX_BYTES=size - 1):
        lines, _ = import_rejected(str(path))
    assert lines == [
        f"{path}: (document): error: {size} bytes is over the limit of {size - 1} [too-large]"
    ]
    assert snapshot() == before
    with override_settings(REGISTRY_MANIFEST_MAX_BYTES=size):
        run_import(str(path))
    assert Release.objects.get(version="1.4").created_by == "rejection-tests"


def test_strict_import_refuses_error_findings(before, tmp_path):
    path = tmp_path / "v1.4.yaml"
    path.write_text(edit('commit_sha: "abcdef1"', 'commit_sha: "not-a-sha"'), encoding="utf-8")
    lines, _ = import_rejected(str(path), "--strict")
    assert lines == [
        f"{path}: repositories[2].commit_sha: error: 'not-a-sha' is not a commit SHA: expected 7 "
        "to 40 hexadecimal characters (64 for SHA-256 repositories) [sha-malformed]"
    ]
    assert snapshot() == before


def test_strict_import_names_every_error_finding_and_no_warnings(before, tmp_path):
    path = tmp_path / "v1.4.yaml"
    text = edit('package_version: "9.0.0"', 'package_version: "9.0.1"')
    text = edit('depends_on: ["fogpy"]', 'depends_on: ["fogpy", "fogpy_utils"]', text)
    text = edit(
        'deployed_at: "2025-03-02T10:00:00Z"', 'deployed_at: "2025-02-02T10:00:00Z"', text
    )  # a warning
    path.write_text(text, encoding="utf-8")
    lines, _ = import_rejected(str(path), "--strict")
    assert lines == [
        f"{path}: repositories[0].package_version: error: package version '9.0.1' does not match "
        "the tag 'v9.0.0' (version 9.0.0) [version-mismatch]",
        f"{path}: repositories[1].depends_on: error: circular dependency: fogpy_utils -> "
        "fogpy_utils [dependency-cycle]",
    ]
    assert snapshot() == before


def test_without_strict_the_same_findings_are_stored_and_printed(db, tmp_path):
    path = tmp_path / "v1.4.yaml"
    path.write_text(edit('commit_sha: "abcdef1"', 'commit_sha: "not-a-sha"'), encoding="utf-8")
    out, _ = run_import(str(path), "-v", "2")
    assert "  repositories[2].commit_sha: error: 'not-a-sha' is not a commit SHA" in out
    pin = RepositoryPin.objects.get(release__version="1.4", repository__name="brand-new-repo")
    assert pin.validation_state == RepositoryPin.ValidationState.INVALID
    assert [finding["code"] for finding in pin.findings] == ["sha-malformed"]


def test_two_files_with_the_same_version_in_one_call(before, tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.json"
    first.write_text(edit('version: "1.4"', 'version: "8.0"'), encoding="utf-8")
    second.write_text(tree(lambda t: t.update(version="8.0")), encoding="utf-8")
    lines, error = import_rejected(str(first), str(second))
    (line,) = lines
    assert line.startswith(f"{second}: version: error: version '8.0' is also ")
    assert line.endswith(f" {first} [duplicate]")
    assert str(error) == "1 of 2 manifest(s) rejected; nothing was written"
    assert snapshot() == before


def test_a_folder_whose_second_file_is_unreadable_writes_nothing(before, tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v2.0.yaml").write_text(edit('version: "1.4"', 'version: "2.0"'), encoding="utf-8")
    (folder / "v10.0.yaml").write_text(edit('version: "1.4"', "version: 10.0"), encoding="utf-8")
    lines, error = import_rejected(str(folder))
    assert lines == [
        f"{folder / 'v10.0.yaml'}: version (line 1): error: must be a string, not a number; "
        'quote it ("10.0") [type]'
    ]
    assert str(error) == "1 of 2 manifest(s) rejected; nothing was written"
    assert snapshot() == before
    assert not Release.objects.filter(version="2.0").exists()


def test_a_folder_whose_second_file_fails_strict_rolls_back_the_first(before, tmp_path):
    # Both files read fine; the first is written inside the transaction before the second is
    # refused, so only the single transaction keeps it out.
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v2.0.yaml").write_text(edit('version: "1.4"', 'version: "2.0"'), encoding="utf-8")
    bad = edit('version: "1.4"', 'version: "10.0"')
    (folder / "v10.0.yaml").write_text(
        edit('commit_sha: "abcdef1"', 'commit_sha: "xyz"', bad), encoding="utf-8"
    )
    lines, error = import_rejected(str(folder), "--strict")
    assert lines == [
        f"{folder / 'v10.0.yaml'}: repositories[2].commit_sha: error: 'xyz' is not a commit SHA: "
        "expected 7 to 40 hexadecimal characters (64 for SHA-256 repositories) [sha-malformed]"
    ]
    assert str(error) == "1 of 2 manifest(s) rejected; nothing was written"
    assert snapshot() == before
    assert not Release.objects.filter(version="2.0").exists()


def test_a_file_that_does_not_exist_is_a_usage_error(before, tmp_path):
    good = tmp_path / "v2.0.yaml"
    good.write_text(edit('version: "1.4"', 'version: "2.0"'), encoding="utf-8")
    missing = tmp_path / "v3.0.yaml"
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_manifest", str(good), str(missing), stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert caught.value.returncode == 2
    assert str(missing) in str(caught.value)
    assert snapshot() == before


@pytest.mark.parametrize("text", ["Null", "null", "~", "---\n", "null\n"])
def test_a_document_that_is_only_null_is_told_it_must_be_a_mapping(text):
    with pytest.raises(ManifestRejected) as rejected:
        parse_manifest(text, source="v1.4.yaml")
    assert [(e.code, e.path, e.message) for e in rejected.value.errors] == [
        ("type", "", "the document must be a mapping, not null")
    ]
