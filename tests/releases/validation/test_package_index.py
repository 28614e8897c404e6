"""The package version's presence on a PyPI-compatible JSON API served on 127.0.0.1."""

from __future__ import annotations

import pytest

from releases.validation.checks import PinToCheck, check_package
from releases.validation.online import lookup_packages, validate_pins
from releases.validation.package_index import PackageAnswer, PackageIndex, PackageIndexError
from tests.gitserver import PackageIndexServer, RecordedGit, free_port

pytestmark = pytest.mark.git


@pytest.fixture
def index(package_index: PackageIndexServer):
    package_index.projects.update(
        {
            "fogpy": {"2.6.0": False, "2.6.1": True, "2.7.0": False},
            "nova-server": {"27.0": False},
        }
    )
    with PackageIndex(package_index.root, timeout=5) as client:
        yield client


def pin(project: str, version: str | None, index: int = 0, **more) -> PinToCheck:
    return PinToCheck(
        index=index, name=f"pytroll/{project}", tag=f"v{version}", package_version=version, **more
    )


def codes(found) -> list[tuple[str, str, str]]:
    return [(f.code, f.severity, f.path) for f in found]


def test_a_present_version_has_no_finding(index: PackageIndex, package_index):
    answer = index.lookup("fogpy", "2.7.0")

    assert answer == PackageAnswer("fogpy", "2.7.0", "present")
    assert list(check_package(pin("fogpy", "2.7.0"), answer)) == []
    assert package_index.requests == ["/pypi/fogpy/2.7.0/json"]


def test_an_absent_version_is_an_error(index: PackageIndex):
    answer = index.lookup("fogpy", "2.8.0")

    assert answer.state == "missing"
    (finding,) = check_package(pin("fogpy", "2.8.0", 4), answer)
    assert codes([finding]) == [("package-missing", "error", "repositories[4].package_version")]
    assert finding.message == "fogpy 2.8.0 is not on the package index"


def test_an_absent_project_is_an_error_naming_the_project(index: PackageIndex):
    answer = index.lookup("Fog_Tools", "1.0")

    assert answer == PackageAnswer("fog-tools", "1.0", "no-project")
    (finding,) = check_package(pin("fog_tools", "1.0"), answer)
    assert finding.code == "package-missing"
    assert finding.message == "the package index has no project 'fog-tools'"


def test_a_yanked_version_is_a_warning_with_the_reason(index: PackageIndex):
    answer = index.lookup("fogpy", "2.6.1")

    assert answer == PackageAnswer("fogpy", "2.6.1", "yanked", "broken build")
    (finding,) = check_package(pin("fogpy", "2.6.1", 2), answer)
    assert codes([finding]) == [("package-yanked", "warning", "repositories[2].package_version")]
    assert finding.message == "fogpy 2.6.1 was yanked from the package index: broken build"


def test_a_version_spelt_differently_is_found_through_the_project(
    index: PackageIndex, package_index
):
    assert index.lookup("nova_server", "27.0.0").state == "present"
    assert package_index.requests == ["/pypi/nova-server/27.0.0/json", "/pypi/nova-server/json"]


def test_answers_are_asked_once_per_project_and_version(index: PackageIndex, package_index):
    pins = [pin("fogpy", "2.6.0", n) for n in range(20)] + [pin("fogpy", None, 20)]

    answers = lookup_packages(pins, index, concurrency=4)

    assert answers == {("fogpy", "2.6.0"): PackageAnswer("fogpy", "2.6.0", "present")}
    assert package_index.requests == ["/pypi/fogpy/2.6.0/json"]


def test_an_index_that_fails_or_is_down_gives_a_warning_not_a_verdict(
    index: PackageIndex, package_index
):
    package_index.failing = True
    with pytest.raises(PackageIndexError, match=r"answered 503 for fogpy/2.6.0/json") as raised:
        index.lookup("fogpy", "2.6.0")
    (finding,) = check_package(pin("fogpy", "2.6.0"), raised.value)
    assert codes([finding]) == [("index-unreachable", "warning", "repositories[0].package_version")]

    down = PackageIndex(f"http://127.0.0.1:{free_port()}/pypi", timeout=2)
    with down, pytest.raises(PackageIndexError, match="is unreachable"):
        down.lookup("fogpy", "2.6.0")


def test_validate_pins_checks_packages_beside_tags(index: PackageIndex, recorded_git: RecordedGit):
    pins = [
        pin("fogpy", "2.6.1", 0, url=None),
        pin("fogpy", "2.6.0", 1, url=None),
        pin("gone", "1.0", 2, url=None),
    ]

    results = validate_pins(pins, policy=recorded_git.policy(), package_index=index)

    assert [codes(r.findings) for r in results] == [
        [
            ("url-missing", "warning", "repositories[0]"),
            ("package-yanked", "warning", "repositories[0].package_version"),
        ],
        [("url-missing", "warning", "repositories[1]")],
        [
            ("url-missing", "warning", "repositories[2]"),
            ("package-missing", "error", "repositories[2].package_version"),
        ],
    ]
