"""The command line as a user runs it: `python bot.py ...` in a subprocess, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, sample_history
from tests.servers.github import GitHubServer
from tests.servers.openai import OpenAIServer
from tests.test_llm import answer


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "GITHUB_", "GIT_CLONES", "DIGEST_"))}
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], capture_output=True, text=True,
                          encoding="utf-8", env={**base, **(env or {})}, cwd=cwd or ROOT, timeout=120)


@pytest.fixture
def history(repo, tmp_path):
    shas = sample_history(repo)
    return repo, shas, str(tmp_path / "cli.db")


def test_digest_of_a_local_clone_in_every_format(history):
    repo, shas, db = history
    text = run("digest", "--git", str(repo.path), "--date", "2026-01-11", "--db", db)
    assert text.returncode == 0, text.stderr
    assert "5 commits | 🔴 high 2 | 🟡 medium 2 | 🟢 low 1" in text.stdout
    assert "analysed: 4/4" in text.stderr  # progress on stderr, not in the output; the same-day merge is not read
    md = run("digest", "--git", str(repo.path), "--date", "2026-01-11", "--db", db, "--format", "markdown",
             "--lang", "zh")
    assert md.returncode == 0 and md.stdout.startswith("# 每日更新报告（2026-01-11）") and md.stderr == ""
    out = run("digest", "--git", str(repo.path), "--date", "2026-01-11", "--db", db, "--format", "json")
    data = json.loads(out.stdout)
    assert data["repo"] == "local/upstream" and data["stats"]["total"] == 5 and data["timezone"] == "UTC"
    assert data["window"] == {"start": "2026-01-11T00:00:00+00:00", "end": "2026-01-12T00:00:00+00:00"}
    first = data["commits"][0]
    assert len(first["sha"]) == 40 and first["sha"] == shas["breaking"]
    assert set(first["analysis"]) >= {"source", "model", "change_type", "importance", "importance_reason", "summary",
                                      "impact_scope", "breaking_changes", "insights", "risks", "suggestions",
                                      "tokens_in", "tokens_out"}
    assert first["analysis"]["breaking_changes"] == ["CLI flag `--load-balance-method` removed "
                                                     "(python/sglang/srt/server_args.py)"]


def test_latest_finds_the_last_day_with_commits(history):
    repo, shas, db = history
    out = run("digest", "--git", str(repo.path), "--date", "latest", "--db", db, "--format", "json")
    data = json.loads(out.stdout)
    assert data["date"] == "2026-01-12" and [c["sha"] for c in data["commits"]] == [shas["next_day"]]


def test_an_empty_day_says_no_commits(history):
    repo, _, db = history
    out = run("digest", "--git", str(repo.path), "--date", "2026-01-05", "--db", db)
    assert out.returncode == 0 and "No commits in local/upstream on 2026-01-05 (UTC)." in out.stdout


@pytest.mark.parametrize("args, message", [
    (["digest", "--date", "2026-13-45"], "no such date"),
    (["digest", "--date", "2026-02-30"], "no such date"),
    (["digest", "--date", "tomorrow"], "not a date"),
    (["digest", "--date", "2999-01-01"], "in the future"),
    (["digest", "--date", "'; DROP TABLE commits; --"], "not a date"),
    (["digest", "--tz", "Mars/Base"], "unknown time zone"),
    (["analyze", "xyz"], "not a commit SHA"),
    (["analyze", "abc12"], "not a commit SHA"),
    (["analyze", "deadbeefdeadbeef"], "no commit deadbeefdeadbeef"),
    (["digest", "--branch", "nope", "--date", "2026-01-11"], "no branch 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(history, args, message):
    repo, _, db = history
    out = run(*args, "--git", str(repo.path), "--db", db)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1 and out.stdout == ""


@pytest.mark.parametrize("repo_name", ["a/b/c", "../x", "a b"])
def test_bad_repository_names_exit_2(repo_name, tmp_path):
    out = run("digest", repo_name, "--db", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "not a repository name" in out.stderr and "Traceback" not in out.stderr


def test_github_repository_missing_and_rate_limited(repo, tmp_path):
    sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}, anonymous_limit=2) as server:
        env = {"GITHUB_API_URL": server.url, "DATABASE_PATH": str(tmp_path / "gh.db")}
        missing = run("digest", "nobody/nothing", "--date", "2026-01-11", env=env)
        assert missing.returncode == 2 and "repository nobody/nothing not found" in missing.stderr
        limited = run("digest", "sgl-project/sglang", "--date", "2026-01-11", env=env)
        assert limited.returncode == 1 and "rate limit exhausted" in limited.stderr and "GITHUB_TOKEN" in limited.stderr


def test_analyze_on_github_with_an_llm_and_a_fallback_warning(repo, tmp_path):
    shas = sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}) as gh, OpenAIServer(responder=answer) as llm:
        env = {"GITHUB_API_URL": gh.url, "DATABASE_PATH": str(tmp_path / "a.db"), "LLM_BASE_URL": llm.url + "/v1",
               "LLM_API_KEY": "test-key", "LLM_MODEL": "test-model"}
        out = run("analyze", shas["feature"][:7], "--repo", "sgl-project/sglang", "--format", "json", env=env)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["sha"] == shas["feature"] and data["analysis"]["source"] == "llm"
        assert data["analysis"]["suggestions"] == ["run the kernel benchmarks"]
    down = {**env, "LLM_API_KEY": "sk-do-not-print-me", "DATABASE_PATH": str(tmp_path / "b.db")}
    with GitHubServer({"sgl-project/sglang": repo.path}) as gh:
        down["GITHUB_API_URL"] = gh.url
        out = run("analyze", shas["side"], "--repo", "sgl-project/sglang", "-v", env=down)
    assert out.returncode == 0 and "warning: LLM unavailable" in out.stderr
    assert "sk-do-not-print-me" not in out.stderr + out.stdout


def test_help_explains_every_option():
    for command in ("digest", "analyze"):
        out = run(command, "--help")
        assert out.returncode == 0
        for option in ("--git", "--format", "--lang", "--db", "--no-llm"):
            assert option in out.stdout
    digest_help = run("digest", "--help").stdout
    for word in ("--date", "--tz", "--branch", "latest", "exit codes"):
        assert word in digest_help


def test_dotenv_is_read(history, tmp_path):
    repo, _, _ = history
    (tmp_path / ".env").write_text(f"DATABASE_PATH={tmp_path / 'from-env.db'}\nDIGEST_LANG=zh\n", encoding="utf-8")
    out = run("digest", "--git", str(repo.path), "--date", "2026-01-11", cwd=tmp_path)
    assert out.returncode == 0 and "本日共 5 个提交" in out.stdout and (tmp_path / "from-env.db").exists()


@pytest.mark.parametrize("args, env, message", [
    (["digest", "--date", "0001-01-01"], {}, "before 1970"),
    (["digest", "--tz", "America"], {}, "unknown time zone"),
    (["digest"], {"DIGEST_TZ": "America"}, "unknown time zone"),
    (["digest", "--db", "/"], {}, "cannot open the database"),
    (["digest"], {"GITHUB_TOKEN": "ghp_abc\nsecret-tail"}, "GITHUB_TOKEN contains whitespace"),
])
def test_more_bad_input_exits_2_without_a_traceback(history, args, env, message):
    repo, _, db = history
    extra = [] if "--db" in args else ["--db", db]
    out = run(*args, "--git", str(repo.path), *extra, env=env)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert "secret-tail" not in out.stderr


def test_a_token_never_appears_in_an_error(history, tmp_path):
    repo, _, _ = history
    env = {"GITHUB_API_URL": "http://user:hunter2pass@127.0.0.1:9", "GITHUB_TOKEN": "ghp_topsecret",
           "DATABASE_PATH": str(tmp_path / "t.db")}
    out = run("digest", "sgl-project/sglang", "--date", "2026-01-11", "-v", env=env)
    assert out.returncode == 1 and "127.0.0.1:9" in out.stderr
    assert "hunter2pass" not in out.stderr and "ghp_topsecret" not in out.stderr


def test_output_is_utf8_whatever_the_locale(history):
    repo, _, db = history
    out = subprocess.run([sys.executable, str(ROOT / "bot.py"), "digest", "--git", str(repo.path), "--date",
                          "2026-01-11", "--db", db, "--lang", "zh"], capture_output=True,
                         env={**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}, timeout=120)
    assert out.returncode == 0 and "本日共 5 个提交".encode() in out.stdout and "🚀".encode() in out.stdout


def test_the_environment_cannot_point_git_elsewhere(history, tmp_path):
    repo, _, db = history
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    out = run("digest", "--git", str(repo.path), "--date", "2026-01-11", "--db", db,
              env={"GIT_DIR": str(other / ".git"), "GIT_WORK_TREE": str(other)})
    assert out.returncode == 0 and "5 commits" in out.stdout


def test_url_credentials_never_reach_the_output(repo, tmp_path):
    sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}) as server:
        url = server.url.replace("http://", "http://bob:s3cr3tpass@")
        out = run("digest", "sgl-project/sglang", "--date", "2026-01-11", "--format", "markdown",
                  env={"GITHUB_API_URL": url, "DATABASE_PATH": str(tmp_path / "u.db")})
    assert out.returncode == 0, out.stderr
    assert "s3cr3tpass" not in out.stdout + out.stderr and "/pull/16273" in out.stdout


@pytest.mark.parametrize("args, env", [(["--git", "~nosuchuser/r"], {}),
                                       (["sgl-project/sglang"], {"GIT_CLONES": "sgl-project/sglang=~nosuchuser/c"})])
def test_unexpandable_paths_are_bad_input(args, env, tmp_path):
    out = run("digest", *args, "--db", str(tmp_path / "x.db"), env=env)
    assert out.returncode == 2 and "cannot expand" in out.stderr and "Traceback" not in out.stderr


def test_analyze_says_when_a_mapped_clone_could_not_be_fetched(history, tmp_path):
    repo, shas, db = history
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", str(tmp_path / "gone")], check=True)
    out = run("analyze", shas["docs"][:8], "--repo", "sgl-project/sglang", "--db", db,
              env={"GIT_CLONES": f"sgl-project/sglang={clone}"})
    assert out.returncode == 0 and "warning: git fetch failed for sgl-project/sglang" in out.stderr
    assert shas["docs"][:7] in out.stdout
