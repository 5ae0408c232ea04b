from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.models import RepoRef  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources import CommitSource  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from digest.sources.github import GitHubClient, GitHubSource  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.github import GitHubServer  # noqa: E402

NOW = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "upstream")


@pytest.fixture
def db(tmp_path: Path):
    return open_db(tmp_path / "radar.db")


def sample_history(repo: GitRepo) -> dict[str, str]:
    """A small sglang-like day (2026-01-11 UTC) with a merge, a rename, a binary file and CJK text."""
    shas = {}
    shas["base"] = repo.commit("Initial import", {
        "python/sglang/srt/server_args.py": 'parser.add_argument("--load-balance-method")\n'
                                            'parser.add_argument("--enable-x")\n',
        "python/sglang/srt/managers/scheduler.py": "def schedule():\n    return 1\n",
        "docs/index.md": "# Docs\n",
    }, utc(2026, 1, 10, 12, 0))
    shas["feature"] = repo.commit("[Feature] Support JIT set kv cache (#16273)", {
        "python/sglang/jit_kernel/kvcache.py": "".join(f"def store_{i}(k, v):\n    return k + v\n" for i in range(90)),
        "python/sglang/jit_kernel/tests/test_kvcache.py": "def test_store():\n    assert True\n",
    }, utc(2026, 1, 11, 1, 34, 9))
    shas["docs"] = repo.commit("[Diffusion] Docs for 扩散 backend 🚀 (#16864)", {
        "docs/diffusion.md": "# 扩散模型\n使用 Diffusers 后端 🚀\n",
    }, utc(2026, 1, 11, 8, 8, 26))
    repo.git("checkout", "-q", "-b", "side", "HEAD~1")
    shas["side"] = repo.commit("fix: parallel tool call parsing with arrays (#16345)", {
        "python/sglang/srt/function_call/parser.py": "def parse(x):\n    return [x]\n" * 30,
    }, utc(2026, 1, 11, 3, 31, 38))
    repo.git("checkout", "-q", "main")
    shas["merge"] = repo.merge("side", "Merge branch 'side'", utc(2026, 1, 11, 9, 0))
    shas["breaking"] = repo.commit("[dpc]: unify DP controller load balancing (#16258)", {
        "python/sglang/srt/server_args.py": 'parser.add_argument("--enable-x")\n',
        "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00binary",
    }, utc(2026, 1, 11, 12, 38, 3))
    shas["next_day"] = repo.commit("[CI] reapply max-parallel", {".github/workflows/ci.yml": "on: push\n"},
                                   utc(2026, 1, 12, 0, 0, 0))
    return shas


@pytest.fixture
def github(repo: GitRepo) -> Iterator[GitHubServer]:
    with GitHubServer({"sgl-project/sglang": repo.path}) as server:
        yield server


def git_service(db, llm=None, concurrency: int = 4) -> DigestService:
    return DigestService(db, lambda r: GitSource(r), llm, concurrency=concurrency, clock=lambda: NOW)


def github_service(db, server: GitHubServer, llm=None, **client_args) -> tuple[DigestService, GitHubClient]:
    client = GitHubClient(db, api_url=server.url, sleep=lambda s: None, **client_args)

    def source_for(ref: RepoRef) -> CommitSource:
        return GitSource(ref) if ref.clone else GitHubSource(ref, client)

    return DigestService(db, source_for, llm, clock=lambda: NOW), client


def clone_ref(repo: GitRepo, name: str = "sgl-project/sglang") -> RepoRef:
    return describe_clone(repo.path, name)


def github_ref(name: str = "sgl-project/sglang") -> RepoRef:
    return RepoRef(name=name, web_url=f"https://github.com/{name}")
