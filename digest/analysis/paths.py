"""What kind of file a path is: source, test, docs, ci, build, or generated (lockfiles, vendored, generated)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_GENERATED = re.compile(
    r"(^|/)(vendor|third_party|3rdparty|node_modules|generated|__generated__)/"
    r"|(^|/)(package-lock\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|Pipfile\.lock|Cargo\.lock|uv\.lock|"
    r"go\.sum|composer\.lock|Gemfile\.lock)$"
    r"|\.lock$|_pb2(_grpc)?\.pyi?$|\.pb\.go$|\.min\.(js|css)$|\.map$|\.snap$|\.svg$"
)
_CI = re.compile(r"(^|/)(\.github|\.gitlab|\.circleci|\.buildkite|\.ci|ci)/|(^|/)(\.gitlab-ci\.yml|Jenkinsfile|"
                 r"azure-pipelines\.yml|\.travis\.yml|\.pre-commit-config\.yaml)$")
_TEST = re.compile(r"(^|/)(tests?|testing|benchmarks?|bench)/|(^|/)test_[^/]*$|_test\.[a-z]+$|"
                   r"\.(spec|test)\.[jt]sx?$|(^|/)conftest\.py$")
_DOCS = re.compile(r"(^|/)(docs?|examples?)/|\.(md|rst|adoc|txt)$|(^|/)(LICENSE|NOTICE|AUTHORS|CHANGELOG)[^/]*$",
                   re.IGNORECASE)
_BUILD = re.compile(r"(^|/)(setup\.py|setup\.cfg|pyproject\.toml|requirements[^/]*\.(txt|in)|Dockerfile[^/]*|"
                    r"Makefile|CMakeLists\.txt|package\.json|Cargo\.toml|go\.mod|MANIFEST\.in)$|\.cmake$|"
                    r"(^|/)docker/|(^|/)\.(gitignore|gitattributes|gitmodules|editorconfig|dockerignore|env\.example)$")

_ASSET = re.compile(r"\.(png|jpe?g|gif|webp|ico|bmp|tiff?|pdf|woff2?|ttf|otf|eot|mp[34]|wav|ogg|zip|tar|gz|whl)$",
                    re.IGNORECASE)

MAX_PATH = 4096  # characters of a path its kind is read from (its end): no real path is longer
KIND_ORDER = ("source", "build", "test", "docs", "ci", "asset", "generated")


_RULES = (("generated", _GENERATED), ("asset", _ASSET), ("ci", _CI), ("build", _BUILD), ("test", _TEST),
          ("docs", _DOCS))  # first match wins: a lockfile under docs/ is still generated


def file_kind(path: str) -> str:
    tail = path[-MAX_PATH:]
    return next((kind for kind, pattern in _RULES if pattern.search(tail)), "source")


def module_of(path: str, depth: int = 3) -> str:
    """A path's directory cut to `depth` parts: the unit an impact scope names."""
    parent = PurePosixPath(path).parent.parts
    return "/".join(parent[:depth]) if parent else path
