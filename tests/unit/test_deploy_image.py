"""The Dockerfile and .dockerignore: one slim, non-root image that holds every file the services read."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from shared.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


# --- .dockerignore, as Docker reads it ----------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out = out[:-2] + "(?:.*/)?"
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, _pattern(line.lstrip("!").strip("/"))))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]] | None = None) -> bool:
    """Whether a repository path is sent to the build: the last matching rule wins, and a rule that
    matches a parent folder matches everything under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for keep, rule in ignore_rules() if rules is None else rules:
        if any(rule.fullmatch(prefix) for prefix in prefixes):
            included = keep
    return included


def repository_files() -> list[str]:
    """Every file of the working tree, outside the folders below (not walked into at all: .venv is large)."""
    skip = {".git", ".venv", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]
        files += [(Path(folder) / name).relative_to(ROOT).as_posix() for name in names]
    return files


def test_the_ignore_matcher_follows_docker() -> None:
    rules = [(False, _pattern("*")), (True, _pattern("src")), (False, _pattern("**/*.pyc")), (False, _pattern("src/x"))]
    assert in_context("src/a/b.py", rules)
    assert not in_context("src/a/b.pyc", rules) and not in_context("b.pyc", rules)
    assert not in_context("src/x/y.py", rules)
    assert not in_context("docs/a.md", rules) and not in_context("README.md", rules)
    assert in_context("anything", [])


def test_the_build_context_holds_the_code_and_every_file_it_reads_and_nothing_else() -> None:
    files = repository_files()
    needed = [f for f in files if f.split("/")[0] in ("shared", "services")] + ["pyproject.toml", "deploy/migrate.py"]
    assert [f for f in needed if not in_context(f)] == []
    # the templates, migrations and vocabulary the services read at run time are in it
    assert any(f.endswith(".txt") and in_context(f) for f in files if f.startswith("services/notification/templates/"))
    assert any(f.endswith(".sql") and in_context(f) for f in files)
    for outside in ("tests/conftest.py", "README.md", "Makefile", "deploy/compose/docker-compose.yml", ".ci/run"):
        assert not in_context(outside), outside
    assert not in_context("services/registration/__pycache__/app.cpython-311.pyc")
    assert not in_context("var/postgres/PG_VERSION") and not in_context(".venv/bin/python")


def test_every_stage_is_python_3_11_slim_and_the_image_runs_as_a_user() -> None:
    all_stages = stages()
    for stage in all_stages:
        image = stage[0][1].split()[0]
        assert image == "python:3.11-slim", image
    final = all_stages[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the image runs as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, "a numeric non-root user, so that runAsNonRoot can verify it"


def test_the_project_is_installed_from_pyproject_without_dev_tools() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    assert installs and all(shlex.split(run)[-1] == "." for run in installs), installs
    assert "dev" not in " ".join(installs)
    copied = [rest.split()[0] for keyword, rest in instructions() if keyword == "COPY" and "--from" not in rest]
    for source in copied:
        assert (ROOT / source).exists(), source
    assert {"pyproject.toml", "shared", "services", "deploy"} <= set(copied)


def test_the_default_command_runs_the_service_named_by_fmf_service() -> None:
    (cmd,) = [rest for keyword, rest in instructions() if keyword == "CMD"]
    argv = json.loads(cmd)
    assert argv[:2] == ["sh", "-c"]
    assert argv[2].startswith("exec python -m ") and "services.${FMF_SERVICE:?" in argv[2]
    env = " ".join(rest for keyword, rest in stages()[-1] if keyword == "ENV")
    assert "FMF_HTTP_HOST=0.0.0.0" in env
    for name in SERVICES:
        assert (ROOT / "services" / name / "__main__.py").is_file()
