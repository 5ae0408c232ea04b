"""The git and GitHub sources: the window rule, merges, files and patches, and that both give the same digest."""

from __future__ import annotations

import json
import subprocess
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import AmbiguousSha, BadInput, CommitNotFound, RateLimited, RepoNotFound, SourceError
from digest.render import json as render_json
from digest.sources.git import GitSource, describe_clone
from digest.sources.github import GitHubClient, GitHubSource
from core.window import day_window
from storage.db import open_db
from tests.conftest import clone_ref, git_service, github_ref, github_service, sample_history, utc
from tests.gitrepo import GitRepo
from tests.servers.github import GitHubServer


def digest_view(digest) -> list[dict]:
    data = json.loads(render_json.render_digest(digest))
    return [{k: c[k] for k in ("sha", "title", "author", "committed_at", "is_merge", "url", "additions", "deletions",
                                "analysis")} for c in data["commits"]]


def test_git_and_github_give_the_same_digest(repo, tmp_path, github):
    shas = sample_history(repo)
    by_git = git_service(open_db(tmp_path / "a.db")).build_digest(clone_ref(repo), date(2026, 1, 11), "UTC")
    service, _ = github_service(open_db(tmp_path / "b.db"), github)
    by_github = service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
    assert [e.commit.sha for e in by_git.entries] == [shas[k] for k in ("breaking", "merge", "docs", "side", "feature")]
    assert digest_view(by_git) == digest_view(by_github)
    assert by_git.stats == by_github.stats


def test_window_edges_in_a_local_zone(repo):
    shanghai = ZoneInfo("Asia/Shanghai")
    inside_first = repo.commit("first second of the day", {"a.py": "1\n"}, datetime(2026, 1, 11, 0, 0, 0, tzinfo=shanghai))
    inside_last = repo.commit("last second of the day", {"a.py": "2\n"}, datetime(2026, 1, 11, 23, 59, 59, tzinfo=shanghai))
    repo.commit("next day", {"a.py": "3\n"}, datetime(2026, 1, 12, 0, 0, 0, tzinfo=shanghai))
    before = repo.commit("day before", {"b.py": "1\n"}, datetime(2026, 1, 10, 23, 59, 59, tzinfo=shanghai))
    source = GitSource(clone_ref(repo))
    window = day_window(date(2026, 1, 11), "Asia/Shanghai")
    got = [c.sha for c in source.commits_between("HEAD", window.start, window.end)]
    assert got == [inside_last, inside_first]
    assert before not in got


def test_a_dst_day_is_25_hours_and_both_sources_agree(repo, github):
    ny = ZoneInfo("America/New_York")  # 2026-11-01: clocks go back at 02:00, the day has 25 hours
    early = repo.commit("just after midnight", {"a.py": "1\n"}, datetime(2026, 11, 1, 0, 0, 1, tzinfo=ny))
    repeated = repo.commit("in the repeated hour", {"a.py": "2\n"},
                           datetime(2026, 11, 1, 1, 30, tzinfo=ny, fold=1))
    late = repo.commit("last second", {"a.py": "3\n"}, datetime(2026, 11, 1, 23, 59, 59, tzinfo=ny))
    repo.commit("next day", {"a.py": "4\n"}, datetime(2026, 11, 2, 0, 0, 0, tzinfo=ny))
    window = day_window(date(2026, 11, 1), "America/New_York")
    assert window.end - window.start == timedelta(hours=25)
    git = [c.sha for c in GitSource(clone_ref(repo)).commits_between("HEAD", window.start, window.end)]
    assert git == [late, repeated, early]
    service, _ = github_service(open_db(":memory:"), github)
    digest = service.build_digest(github_ref(), date(2026, 11, 1), "America/New_York")
    assert [e.commit.sha for e in digest.entries] == git


def test_commit_details_merge_binary_rename_and_cjk(repo):
    shas = sample_history(repo)
    source = GitSource(clone_ref(repo))
    merge = source.commit(shas["merge"][:8])
    assert merge.is_merge and len(merge.parents) == 2
    assert [f.path for f in merge.files] == ["python/sglang/srt/function_call/parser.py"]  # vs the first parent
    breaking = source.commit(shas["breaking"])
    logo = next(f for f in breaking.files if f.path == "assets/logo.png")
    assert logo.binary and logo.patch is None and logo.note == "binary file"
    docs = source.commit(shas["docs"])
    assert docs.title == "[Diffusion] Docs for 扩散 backend 🚀 (#16864)" and docs.pr_number == 16864
    assert "+使用 Diffusers 后端 🚀" in docs.files[0].patch
    repo.git("mv", "docs/diffusion.md", "docs/扩散.md")
    repo.git("commit", "-q", "-m", "rename", when=utc(2026, 1, 12, 1, 0))
    renamed = source.commit(repo.head()).files[0]
    assert (renamed.status, renamed.previous_path, renamed.path) == ("renamed", "docs/diffusion.md", "docs/扩散.md")


def test_bad_shas_and_paths(repo, tmp_path):
    sample_history(repo)
    source = GitSource(clone_ref(repo))
    with pytest.raises(CommitNotFound):
        source.commit("deadbeefdeadbeef")
    with pytest.raises(BadInput, match="not a git repository"):
        describe_clone(tmp_path)


def test_an_ambiguous_prefix_is_reported(tmp_path):
    """1500 commits share some 4-digit prefixes; git resolves none of those, and neither do we."""
    repo = GitRepo(tmp_path / "many")
    stream = "".join(
        f"commit refs/heads/main\ncommitter A <a@x> {1700000000 + i} +0000\ndata {len(str(i))}\n{i}\n\n"
        for i in range(1500))  # fast-import chains commits on one branch by itself
    subprocess.run(["git", "-C", str(repo.path), "fast-import", "--quiet"], input=stream.encode(), check=True)
    shas = repo.git("rev-list", "main").split()
    seen: dict[str, str] = {}
    prefix = next(p for p in (s[:4] for s in shas) if p in seen or seen.setdefault(p, p) is None)
    with pytest.raises(AmbiguousSha, match="more hex digits"):
        GitSource(clone_ref(repo)).commit(prefix)


def test_bare_mirror_and_missing_objects(repo, tmp_path):
    shas = sample_history(repo)
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo.path), str(mirror)], check=True)
    source = GitSource(describe_clone(mirror, "sgl-project/sglang"))
    window = day_window(date(2026, 1, 11), "UTC")
    assert len(source.commits_between(source.branch(None), window.start, window.end)) == 5
    # delete the blob of one file: that patch becomes unavailable, the others stay
    blob = subprocess.run(["git", "-C", str(mirror), "rev-parse", f"{shas['feature']}:python/sglang/jit_kernel/kvcache.py"],
                          capture_output=True, check=True).stdout.decode().strip()
    (mirror / "objects" / blob[:2] / blob[2:]).unlink()
    commit = source.commit(shas["feature"])
    by_path = {f.path: f for f in commit.files}
    assert by_path["python/sglang/jit_kernel/kvcache.py"].patch is None
    assert "missing" in by_path["python/sglang/jit_kernel/kvcache.py"].note
    assert by_path["python/sglang/jit_kernel/tests/test_kvcache.py"].patch.startswith("@@")


def test_clone_from_git_clones_is_fetched_and_a_failed_fetch_is_a_warning(repo, tmp_path):
    sample_history(repo)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    later = repo.commit("arrives after the clone", {"late.py": "x = 1\n"}, utc(2026, 1, 11, 22, 0))
    from digest.repos import resolve_repo

    ref = resolve_repo("sgl-project/sglang", None, {"sgl-project/sglang": clone}, "https://api.github.com")
    assert ref.fetch and ref.clone == clone
    digest = git_service(open_db(tmp_path / "c.db")).build_digest(ref, date(2026, 1, 11), "UTC")
    assert digest.entries[0].commit.sha == later and digest.notes == ()
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", str(tmp_path / "gone")], check=True)
    digest = git_service(open_db(tmp_path / "d.db")).build_digest(ref, date(2026, 1, 11), "UTC")
    assert len(digest.entries) == 6 and "git fetch failed" in digest.notes[0]


def test_github_pagination_follows_link_and_etags_make_rebuilds_free(repo, tmp_path):
    base = utc(2026, 1, 11, 0, 0)
    repo.bulk([(f"commit {i}", {"f.py": f"{i}\n"}, base + timedelta(minutes=5 * i)) for i in range(230)])
    with GitHubServer({"sgl-project/sglang": repo.path}, anonymous_limit=1000) as server:
        db = open_db(tmp_path / "g.db")
        service, client = github_service(db, server)
        first = service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
        assert first.stats.total == 230
        listing = [r for r in server.calls("/commits") if r.path.endswith("/commits")]
        assert len(listing) == 3 and [r.query.get("page") for r in listing] == [None, "2", "3"]
        assert "page" not in listing[0].query and listing[0].query["per_page"] == "100"
        before = len(server.requests)
        again = service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
        assert [e.commit.sha for e in again.entries] == [e.commit.sha for e in first.entries]
        rebuild = server.requests[before:]
        assert all(r.status == 304 for r in rebuild if "/commits" in r.path), "every listing page was conditional"
        assert not [r for r in rebuild if "/commits/" in r.path], "no commit was downloaded again"


def test_github_errors(repo, tmp_path):
    sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}, anonymous_limit=3, reset_in=3600) as server:
        service, client = github_service(open_db(tmp_path / "e.db"), server)
        with pytest.raises(RepoNotFound):
            service.build_digest(github_ref("nobody/nothing"), date(2026, 1, 11), "UTC")
        with pytest.raises(CommitNotFound):
            service.analyze(github_ref(), "abcdef1234")
        with pytest.raises(RateLimited) as limited:
            service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
        assert "GITHUB_TOKEN" in str(limited.value) and "resets at" in str(limited.value)
        server.inject(502, count=10)
        with pytest.raises(SourceError, match="HTTP 502"):
            GitHubSource(github_ref(), client).branch(None)
        assert client.calls >= 1


def test_rate_limit_waits_when_the_reset_is_near(repo, tmp_path):
    sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}) as server:
        service, client = github_service(open_db(tmp_path / "w.db"), server)
        waits: list[float] = []
        client.sleep = lambda s: (waits.append(s), server.set_remaining(60))
        server.set_remaining(0, reset_in=20)
        digest = service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
        assert digest.stats.total == 5 and len(waits) == 1 and 0 < waits[0] <= 22
        server.inject(403, headers={"retry-after": "3"}, body={"message": "You have exceeded a secondary rate limit."})
        waits.clear()
        client.sleep = waits.append
        assert GitHubSource(github_ref(), client).branch(None) == "main" and waits == [3.0]


def test_a_token_is_sent_and_a_bad_one_is_reported_without_showing_it(repo, tmp_path):
    sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}, token="ghp_right") as server:
        client = GitHubClient(open_db(":memory:"), api_url=server.url, token="ghp_wrong_secret")
        with pytest.raises(SourceError) as err:
            GitHubSource(github_ref(), client).branch(None)
        assert "401" in str(err.value) and "ghp_wrong_secret" not in str(err.value)
        good = GitHubClient(open_db(":memory:"), api_url=server.url, token="ghp_right")
        assert GitHubSource(github_ref(), good).branch(None) == "main"
        assert server.requests[-1].headers["authorization"] == "Bearer ghp_right"



@pytest.mark.parametrize("elsewhere", ["another port", "another host", "another scheme"])
def test_the_token_follows_next_pages_only_on_the_apis_own_host(repo, tmp_path, elsewhere):
    """A `Link: rel="next"` off the API's scheme, host and port is an error naming that host; the token never
    goes there (issue 12, item 12)."""
    sample_history(repo)
    with GitHubServer({"sgl-project/sglang": repo.path}, token="ghp_secret") as api, \
            GitHubServer({"sgl-project/sglang": repo.path}) as other:
        port = api.url.rsplit(":", 1)[1]
        base = {"another port": other.url, "another host": f"http://localhost:{port}",
                "another scheme": f"https://127.0.0.1:{port}"}[elsewhere]
        api.inject(200, body=[], path_contains="/commits",
                   headers={"Link": f'<{base}/repos/sgl-project/sglang/commits?page=2>; rel="next"'})
        client = GitHubClient(open_db(tmp_path / "l.db"), api_url=api.url, token="ghp_secret", sleep=lambda s: None)
        with pytest.raises(SourceError) as err:
            GitHubSource(github_ref(), client).commits_between("main", utc(2026, 1, 11), utc(2026, 1, 12))
        assert f"another host ({base})" in str(err.value) and "ghp_secret" not in str(err.value)
        assert other.requests == []  # no request, so no Authorization header, reached the other server
        assert not [r for r in api.requests if "page=2" in r.raw_path]

def test_big_commits_3000_files_and_a_3mb_diff(repo, tmp_path):
    files = {f"pkg/m{i:04d}.py": f"x = {i}\n" for i in range(3100)}
    many = repo.commit("[Feature] generate 3100 modules", files, utc(2026, 1, 11, 4, 0))
    huge = repo.commit("vendor a 3 MB file", {"src/big.py": "y = 1  # padding padding padding\n" * 100_000},
                       utc(2026, 1, 11, 5, 0))
    with GitHubServer({"sgl-project/sglang": repo.path}, anonymous_limit=1000) as server:
        service, client = github_service(open_db(tmp_path / "big.db"), server)
        digest = service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
        by_sha = {e.commit.sha: e for e in digest.entries}
        assert by_sha[many].commit.files_total == 3000  # GitHub lists 3000 of them, over 10 pages
        assert len([r for r in server.calls(f"/commits/{many}")]) == 10
        big = by_sha[huge].commit.files[0]
        assert big.patch is None and "too large" in big.note
        assert by_sha[huge].analysis.importance in ("high", "medium", "low")
    git = GitSource(clone_ref(repo)).commit(huge)
    assert git.files[0].patch is None and git.additions == 100_000


def test_separator_bytes_in_a_message_do_not_break_the_day(repo):
    repo.commit("odd \x1e record \x1f field bytes\n\nbody \x1e", {"a.py": "1\n"}, utc(2026, 1, 11, 3, 0))
    repo.commit("normal", {"a.py": "2\n"}, utc(2026, 1, 11, 4, 0))
    window = day_window(date(2026, 1, 11), "UTC")
    listed = GitSource(clone_ref(repo)).commits_between("HEAD", window.start, window.end)
    assert [c.title for c in listed] == ["normal", "odd \x1e record \x1f field bytes"]


def test_an_old_dated_commit_does_not_hide_newer_ones(repo, github):
    """git log --since stops at an old-dated commit; both sources must still list the whole day."""
    first = repo.commit("in the day", {"a.py": "1\n"}, utc(2026, 1, 11, 2, 0))
    repo.commit("rebased with an old date", {"a.py": "2\n"}, utc(2024, 1, 1, 0, 0))
    repo.commit("filler 1", {"a.py": "3\n"}, utc(2024, 1, 1, 0, 1))
    repo.commit("filler 2", {"a.py": "4\n"}, utc(2024, 1, 1, 0, 2))
    last = repo.commit("also in the day", {"a.py": "5\n"}, utc(2026, 1, 11, 3, 0))
    window = day_window(date(2026, 1, 11), "UTC")
    git = [c.sha for c in GitSource(clone_ref(repo)).commits_between("HEAD", window.start, window.end)]
    assert git == [last, first]
    service, _ = github_service(open_db(":memory:"), github)
    assert [e.commit.sha for e in service.build_digest(github_ref(), date(2026, 1, 11), "UTC").entries] == git


def test_a_branch_named_like_a_prefix_does_not_shadow_the_commit(repo):
    shas = sample_history(repo)
    prefix = shas["docs"][:7]
    repo.git("branch", prefix, shas["base"])
    assert GitSource(clone_ref(repo)).commit(prefix).sha == shas["docs"]


def test_digests_of_two_branches_are_kept_apart(repo, db):
    sample_history(repo)
    repo.git("branch", "dev", "HEAD~3")
    service = git_service(db)
    main = service.build_digest(clone_ref(repo), date(2026, 1, 11), "UTC")
    dev = service.build_digest(clone_ref(repo), date(2026, 1, 11), "UTC", branch="dev")
    assert main.stats.total == 5 and dev.stats.total < 5
    assert service.find_digest(clone_ref(repo), date(2026, 1, 11), "UTC", "en", "main").stats.total == 5
    assert service.find_digest(clone_ref(repo), date(2026, 1, 11), "UTC", "en", "dev").stats.total == dev.stats.total


def test_a_listed_commit_github_cannot_return_is_a_clear_failure(repo, tmp_path, github):
    shas = sample_history(repo)
    github.inject(404, count=5, path_contains=f"/commits/{shas['docs']}")
    service, _ = github_service(open_db(tmp_path / "404.db"), github)
    with pytest.raises(SourceError, match=f"GitHub listed {shas['docs'][:7]}"):
        service.build_digest(github_ref(), date(2026, 1, 11), "UTC")
