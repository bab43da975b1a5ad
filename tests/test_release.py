"""scripts/release: one command makes every release file, with checksums that match, from a commit.

It runs in a scratch git repository holding this checkout's tracked files as one commit, so that what
is tested is the working tree, not whatever HEAD happens to be. The bundle needs mcpb (`npm ci`); CI
sets REQUIRE_NODE_TOOLS=1 so that a missing tool fails instead of skipping.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import polar_mcp

ROOT = Path(__file__).resolve().parents[1]
VERSION = polar_mcp.__version__
COMMIT_TIME = "2026-01-02T03:04:05+00:00"


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "polar-mcp",
        "GIT_AUTHOR_EMAIL": "release@example.com",
        "GIT_COMMITTER_NAME": "polar-mcp",
        "GIT_COMMITTER_EMAIL": "release@example.com",
        "GIT_AUTHOR_DATE": COMMIT_TIME,
        "GIT_COMMITTER_DATE": COMMIT_TIME,
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.skip("not a git checkout: the release is made from a commit")
    return [name for name in done.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def repository(target: Path, edit: dict[str, str] | None = None) -> Path:
    """A git repository with this checkout's tracked files (with `edit` applied) as its one commit."""
    for name in tracked_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    for name, text in (edit or {}).items():
        (target / name).write_text(text)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "release candidate")
    return target


def mcpb() -> str:
    local = ROOT / "node_modules" / ".bin" / "mcpb"
    found = str(local) if local.exists() else shutil.which("mcpb")
    if found is None or shutil.which("node") is None:
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail("mcpb is not installed: run `npm ci` in the repository")
        pytest.skip("mcpb is not installed (npm ci)")
    return found


def release(repo: Path, out: Path, *, bundle: bool = True) -> subprocess.CompletedProcess[str]:
    # uv from this Python's environment, as the test extras install it.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path}
    if bundle:
        env["MCPB"] = mcpb()
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "release"), "--out", str(out)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


FILES = [
    f"polar-mcp-{VERSION}-source.tar.gz",
    f"polar_mcp-{VERSION}.tar.gz",
    f"polar_mcp-{VERSION}-py3-none-any.whl",
    f"polar-mcp-{VERSION}.mcpb",
]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    repo = repository(tmp_path_factory.mktemp("repo"))
    out = tmp_path_factory.mktemp("dist")
    done = release(repo, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [str(out / name) for name in [*FILES, "SHA256SUMS"]]
    return repo, out


def test_release_makes_the_four_files_and_checksums_that_match(released: tuple[Path, Path]) -> None:
    _, out = released
    assert sorted(path.name for path in out.iterdir()) == sorted([*FILES, "SHA256SUMS"])
    lines = (out / "SHA256SUMS").read_text().splitlines()
    listed = {name: digest for digest, name in (line.split("  ", 1) for line in lines)}
    assert list(listed) == FILES
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    if shutil.which("sha256sum"):  # what the README tells users to run
        checked = subprocess.run(
            ["sha256sum", "-c", "SHA256SUMS"],
            cwd=out,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count(": OK") == 4


def test_release_files_hold_the_commit(released: tuple[Path, Path]) -> None:
    repo, out = released
    with tarfile.open(out / FILES[0]) as source:
        names = set(source.getnames())
    prefix = f"polar-mcp-{VERSION}/"
    assert {f"{prefix}{name}" for name in tracked_files()} <= names
    assert not any(name.startswith((f"{prefix}.git/", f"{prefix}node_modules/")) for name in names)
    with tarfile.open(out / FILES[1]) as sdist:
        assert f"polar_mcp-{VERSION}/pyproject.toml" in sdist.getnames()
    with zipfile.ZipFile(out / FILES[2]) as wheel:
        metadata = wheel.read(f"polar_mcp-{VERSION}.dist-info/METADATA").decode()
    assert re.search(rf"^Version: {re.escape(VERSION)}$", metadata, re.M)
    with zipfile.ZipFile(out / FILES[3]) as bundle:
        assert json.loads(bundle.read("manifest.json")) == json.loads((repo / "manifest.json").read_text())


def test_release_of_one_commit_is_the_same_bytes_twice(released: tuple[Path, Path], tmp_path: Path) -> None:
    repo, out = released
    again = release(repo, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "SHA256SUMS").read_text() == (out / "SHA256SUMS").read_text()


def test_release_leaves_uncommitted_changes_out_and_says_so(
    released: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, out = released
    readme = repo / "README.md"
    committed = readme.read_text()
    readme.write_text(committed + "\nnot released\n")
    try:
        done = release(repo, tmp_path)
    finally:
        readme.write_text(committed)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "uncommitted changes are not in the release" in done.stderr
    assert "README.md" in done.stderr
    assert (tmp_path / "SHA256SUMS").read_text() == (out / "SHA256SUMS").read_text()


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("manifest.json", ('"version": "', '"version": "9'), "manifest.json says 9"),
        ("CHANGELOG.md", ("\n## ", "\n## 99.0.0 (unreleased)\n\n## "), "newest release is 99.0.0"),
    ],
    ids=["bundle-version", "changelog"],
)
def test_release_refuses_versions_that_disagree(
    tmp_path: Path, name: str, change: tuple[str, str], message: str
) -> None:
    text = (ROOT / name).read_text()
    old, new = change
    # The changelog's "Unreleased" heading comes first; the made-up release goes after it.
    at = text.index(old, text.index("## Unreleased") + 1) if name == "CHANGELOG.md" else text.index(old)
    repo = repository(tmp_path / "repo", {name: text[:at] + new + text[at + len(old) :]})

    done = release(repo, tmp_path / "dist", bundle=False)

    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "dist").exists()
