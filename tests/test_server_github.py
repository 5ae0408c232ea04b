"""Self-tests of the GitHub REST API double (tests/servers/github.py), driven with requests."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.servers.github import GitHubServer

REPO = "octo/demo"
API_RATE_MESSAGE_START = "API rate limit exceeded for 127.0.0.1."


def git(repo: Path, *args: str, date: str | None = None, author_date: str | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Charles Babbage",
        "GIT_COMMITTER_EMAIL": "charles@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo.parent),
    }
    if date:
        env["GIT_COMMITTER_DATE"] = date
        env["GIT_AUTHOR_DATE"] = author_date or date
    out = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def commit(repo: Path, message: str, date: str, author_date: str | None = None) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date, author_date=author_date)
    return git(repo, "rev-parse", "HEAD")


class Repo:
    """The fixture repository and the SHAs of its interesting commits."""

    path: Path
    root: str
    cjk: str
    feature: str
    rename: str
    binary: str
    merge: str
    many: str
    old_author: str
    tail: list[str]


def build_repo(path: Path) -> Repo:
    r = Repo()
    r.path = path
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n\nhello\n")
    (path / "notes.txt").write_text("".join(f"line {i}\n" for i in range(40)))
    r.root = commit(path, "Initial commit\n\nWith a body.", "2026-01-10T10:00:00+00:00")

    (path / "文档").mkdir()
    (path / "文档" / "说明.txt").write_text("你好\n")
    r.cjk = commit(path, "Add CJK doc", "2026-01-10T12:00:00+00:00")

    git(path, "checkout", "-q", "-b", "feature")
    (path / "feature.py").write_text("print('feature')\n")
    with open(path / "README.md", "a") as fh:
        fh.write("feature line\n")
    r.feature = commit(path, "Feature work", "2026-01-11T09:00:00+00:00")
    git(path, "checkout", "-q", "main")

    git(path, "mv", "notes.txt", "notes.md")
    with open(path / "notes.md", "a") as fh:
        fh.write("one more line\n")
    r.rename = commit(path, "Rename notes", "2026-01-11T00:00:00+00:00")

    (path / "logo.bin").write_bytes(bytes(range(256)) * 4)
    # Authored long ago, committed on 2026-01-11: since/until must use the committer date.
    r.binary = commit(path, "Add binary", "2026-01-11T11:00:00+00:00", author_date="2025-12-01T00:00:00+00:00")

    git(path, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature", date="2026-01-12T08:00:00+00:00")
    r.merge = git(path, "rev-parse", "HEAD")

    (path / "many").mkdir()
    for i in range(350):
        (path / "many" / f"f{i:03d}.txt").write_text(f"{i}\n")
    r.many = commit(path, "Add 350 files", "2026-01-12T09:00:00+00:00")

    r.tail = []
    for i in range(4):
        (path / "README.md").write_text(f"# demo\n\nversion {i}\n")
        r.tail.append(commit(path, f"Tweak {i}", f"2026-01-13T0{i}:00:00+00:00"))
    return r


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return build_repo(tmp_path_factory.mktemp("gh") / "demo")


@pytest.fixture
def gh(repo: Repo):
    with GitHubServer({REPO: repo.path}) as server:
        yield server


def get(server: GitHubServer, path: str, **kw) -> requests.Response:
    return requests.get(server.url + path, timeout=10, **kw)


def rev_list(repo: Path, *args: str) -> list[str]:
    return git(repo, "rev-list", *args).split()


# ----------------------------------------------------------------------------- repository


def test_repo_info(gh: GitHubServer, repo: Repo) -> None:
    r = get(gh, f"/repos/{REPO}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = r.json()
    assert body["name"] == "demo" and body["full_name"] == REPO
    assert body["default_branch"] == "main"
    assert body["html_url"] == "https://github.com/octo/demo"
    assert body["private"] is False and isinstance(body["id"], int)


def test_unknown_repo_and_paths_404(gh: GitHubServer) -> None:
    for path in ("/repos/octo/nope", "/repos/octo/nope/commits", "/nothing", f"/repos/{REPO}/pulls"):
        r = get(gh, path)
        assert r.status_code == 404, path
        assert r.json() == {"message": "Not Found", "documentation_url": "https://docs.github.com/rest",
                            "status": "404"}
    r = requests.post(gh.url + f"/repos/{REPO}/commits", json={}, timeout=10)
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


def test_bare_repo_and_default_branch_override(repo: Repo, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    with GitHubServer({REPO: bare}) as server:
        assert get(server, f"/repos/{REPO}").json()["default_branch"] == "main"
        shas = [c["sha"] for c in get(server, f"/repos/{REPO}/commits", params={"per_page": 100}).json()]
        assert shas == rev_list(repo.path, "main")
    with GitHubServer({REPO: repo.path}, default_branch="feature") as server:
        assert get(server, f"/repos/{REPO}").json()["default_branch"] == "feature"
        shas = [c["sha"] for c in get(server, f"/repos/{REPO}/commits").json()]
        assert shas == rev_list(repo.path, "feature")


# ----------------------------------------------------------------------------- commit list


def test_pagination_follows_link(gh: GitHubServer, repo: Repo) -> None:
    expected = rev_list(repo.path, "main")
    assert len(expected) == 11
    r = get(gh, f"/repos/{REPO}/commits", params={"per_page": 5, "sha": "main"})
    assert set(r.links) == {"next", "last"}
    assert "per_page=5" in r.links["next"]["url"] and "sha=main" in r.links["next"]["url"]
    assert r.links["next"]["url"].startswith(gh.url + f"/repos/{REPO}/commits?")
    seen, pages = [], [r]
    session = requests.Session()  # keep-alive connections work too
    while True:
        assert r.status_code == 200
        seen += [c["sha"] for c in r.json()]
        if "next" not in r.links:
            break
        r = session.get(r.links["next"]["url"], timeout=10)
        pages.append(r)
    assert seen == expected
    assert [len(p.json()) for p in pages] == [5, 5, 1]
    assert set(pages[1].links) == {"prev", "next", "last", "first"}
    assert set(pages[2].links) == {"prev", "first"}
    assert pages[0].links["last"]["url"] == pages[1].links["last"]["url"]


def test_default_and_clamped_per_page(gh: GitHubServer, repo: Repo) -> None:
    r = get(gh, f"/repos/{REPO}/commits")
    assert len(r.json()) == 11 and "Link" not in r.headers
    r = get(gh, f"/repos/{REPO}/commits", params={"per_page": 1000})
    assert len(r.json()) == 11 and "Link" not in r.headers
    assert get(gh, f"/repos/{REPO}/commits", params={"page": 9}).json() == []


def test_list_item_shape(gh: GitHubServer, repo: Repo) -> None:
    items = get(gh, f"/repos/{REPO}/commits", params={"per_page": 100}).json()
    by_sha = {c["sha"]: c for c in items}
    root = by_sha[repo.root]
    assert root["parents"] == []
    assert root["commit"]["message"] == "Initial commit\n\nWith a body."
    assert root["commit"]["author"] == {"name": "Ada Lovelace", "email": "ada@example.com",
                                        "date": "2026-01-10T10:00:00Z"}
    assert root["commit"]["committer"]["name"] == "Charles Babbage"
    assert root["commit"]["comment_count"] == 0 and len(root["commit"]["tree"]["sha"]) == 40
    assert root["html_url"] == f"https://github.com/{REPO}/commit/{repo.root}"
    assert root["author"] is None and root["committer"] is None
    assert root["url"].startswith(gh.url) and root["comments_url"].endswith("/comments")
    merge = by_sha[repo.merge]
    assert [p["sha"] for p in merge["parents"]] == [repo.binary, repo.feature]
    assert merge["parents"][1]["html_url"] == f"https://github.com/{REPO}/commit/{repo.feature}"
    binary = by_sha[repo.binary]
    assert binary["commit"]["author"]["date"] == "2025-12-01T00:00:00Z"
    assert binary["commit"]["committer"]["date"] == "2026-01-11T11:00:00Z"


def test_since_until_on_committer_date_inclusive(gh: GitHubServer, repo: Repo) -> None:
    def shas(**params):
        r = get(gh, f"/repos/{REPO}/commits", params={"per_page": 100, **params})
        assert r.status_code == 200
        return [c["sha"] for c in r.json()]

    day = shas(since="2026-01-11T00:00:00Z", until="2026-01-11T23:59:59Z")
    # rename (exactly at since), binary (authored 2025, committed 01-11), feature (via merge)
    assert day == [c for c in rev_list(repo.path, "main") if c in {repo.rename, repo.binary, repo.feature}]
    assert len(day) == 3
    assert shas(since="2026-01-11T08:00:00+08:00", until="2026-01-11T00:00:00Z") == [repo.rename]
    assert shas(until="2026-01-10T10:00:00Z") == [repo.root]
    assert shas(since="2030-01-01T00:00:00Z") == []
    # Link URLs keep the offset intact (the "+" must survive re-encoding).
    params = {"since": "2026-01-11T08:00:00+08:00", "until": "2026-01-12T23:00:00+00:00", "per_page": 1}
    r = get(gh, f"/repos/{REPO}/commits", params=params)
    followed = [c["sha"] for c in r.json()]
    while "next" in r.links:
        r = requests.get(r.links["next"]["url"], timeout=10)
        followed += [c["sha"] for c in r.json()]
    assert followed == shas(since="2026-01-11T00:00:00Z", until="2026-01-12T23:00:00Z") and len(followed) == 5
    r = get(gh, f"/repos/{REPO}/commits", params={"since": "yesterday"})
    assert r.status_code == 400


def test_list_sha_param(gh: GitHubServer, repo: Repo) -> None:
    r = get(gh, f"/repos/{REPO}/commits", params={"sha": "feature"})
    assert [c["sha"] for c in r.json()] == [repo.feature, repo.cjk, repo.root]
    r = get(gh, f"/repos/{REPO}/commits", params={"sha": repo.cjk[:7]})
    assert [c["sha"] for c in r.json()] == [repo.cjk, repo.root]
    r = get(gh, f"/repos/{REPO}/commits", params={"sha": "no-such-branch"})
    assert r.status_code == 404
    assert r.json()["message"] == "No commit found for SHA: no-such-branch"


def test_new_commits_are_visible_while_running(tmp_path: Path) -> None:
    path = tmp_path / "live"
    path.mkdir()
    git(path, "init", "-q", "-b", "trunk")
    with GitHubServer({REPO: path}) as server:
        r = get(server, f"/repos/{REPO}/commits")
        assert r.status_code == 409 and r.json()["message"] == "Git Repository is empty."
        (path / "a.txt").write_text("a\n")
        first = commit(path, "first", "2026-01-10T00:00:00+00:00")
        assert [c["sha"] for c in get(server, f"/repos/{REPO}/commits").json()] == [first]
        (path / "a.txt").write_text("b\n")
        second = commit(path, "second", "2026-01-10T01:00:00+00:00")
        assert [c["sha"] for c in get(server, f"/repos/{REPO}/commits").json()] == [second, first]
        assert get(server, f"/repos/{REPO}").json()["default_branch"] == "trunk"


# ----------------------------------------------------------------------------- single commit


def commit_detail(server: GitHubServer, ref: str, **params) -> dict:
    r = get(server, f"/repos/{REPO}/commits/{ref}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_commit_detail_fields(gh: GitHubServer, repo: Repo) -> None:
    body = commit_detail(gh, repo.feature)
    assert body["sha"] == repo.feature and body["commit"]["message"] == "Feature work"
    assert body["parents"][0]["sha"] == repo.cjk
    files = {f["filename"]: f for f in body["files"]}
    assert set(files) == {"README.md", "feature.py"}
    readme = files["README.md"]
    assert readme["status"] == "modified" and (readme["additions"], readme["deletions"]) == (1, 0)
    assert readme["changes"] == 1
    assert readme["patch"].startswith("@@ ") and "+feature line" in readme["patch"]
    assert "diff --git" not in readme["patch"] and "+++ " not in readme["patch"]
    assert readme["blob_url"] == f"https://github.com/{REPO}/blob/{repo.feature}/README.md"
    assert readme["raw_url"] == f"https://github.com/{REPO}/raw/{repo.feature}/README.md"
    assert readme["contents_url"] == f"{gh.url}/repos/{REPO}/contents/README.md?ref={repo.feature}"
    assert readme["sha"] == git(repo.path, "rev-parse", f"{repo.feature}:README.md")
    assert files["feature.py"]["status"] == "added"
    assert body["stats"] == {"total": 2, "additions": 2, "deletions": 0}
    assert "previous_filename" not in readme


def test_refs_accepted(gh: GitHubServer, repo: Repo) -> None:
    assert commit_detail(gh, "main")["sha"] == repo.tail[-1]
    assert commit_detail(gh, "feature")["sha"] == repo.feature
    assert commit_detail(gh, repo.rename[:7])["sha"] == repo.rename
    assert commit_detail(gh, repo.rename.upper())["sha"] == repo.rename


def test_ambiguous_short_sha_422(tmp_path: Path) -> None:
    path = tmp_path / "amb"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    stream = []
    for i in range(1000):
        data = f"{i}\n"
        stream.append(
            f"commit refs/heads/main\ncommitter C <c@example.com> {1768000000 + i} +0000\n"
            f"data 2\nc\nM 644 inline f\ndata {len(data)}\n{data}\n"
        )
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input="".join(stream).encode(),
                   check=True, capture_output=True)
    shas = rev_list(path, "main")
    by_prefix: dict[str, list[str]] = {}
    for sha in shas:
        by_prefix.setdefault(sha[:4], []).append(sha)
    ambiguous = next(p for p, v in by_prefix.items() if len(v) > 1)
    unique = next(p for p, v in by_prefix.items() if len(v) == 1)
    with GitHubServer({REPO: path}) as server:
        r = get(server, f"/repos/{REPO}/commits/{ambiguous}")
        assert r.status_code == 422 and r.json()["message"] == f"No commit found for SHA: {ambiguous}"
        assert commit_detail(server, unique)["sha"] == by_prefix[unique][0]
        assert commit_detail(server, by_prefix[ambiguous][0][:12])["sha"] == by_prefix[ambiguous][0]


def test_unknown_ref_422(gh: GitHubServer) -> None:
    for ref in ("deadbeef", "0" * 40, "no-such-branch"):
        r = get(gh, f"/repos/{REPO}/commits/{ref}")
        assert r.status_code == 422
        assert r.json() == {
            "message": f"No commit found for SHA: {ref}",
            "documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit",
            "status": "422",
        }


def test_root_commit_against_empty_tree(gh: GitHubServer, repo: Repo) -> None:
    body = commit_detail(gh, repo.root)
    assert sorted(f["filename"] for f in body["files"]) == ["README.md", "notes.txt"]
    assert all(f["status"] == "added" and f["deletions"] == 0 for f in body["files"])
    assert body["stats"]["additions"] == 43


def test_rename_binary_and_cjk(gh: GitHubServer, repo: Repo) -> None:
    (renamed,) = commit_detail(gh, repo.rename)["files"]
    assert renamed["status"] == "renamed"
    assert renamed["filename"] == "notes.md" and renamed["previous_filename"] == "notes.txt"
    assert (renamed["additions"], renamed["deletions"]) == (1, 0)
    assert renamed["patch"].startswith("@@") and renamed["patch"].endswith("+one more line")

    (binary,) = commit_detail(gh, repo.binary)["files"]
    assert binary["filename"] == "logo.bin" and binary["status"] == "added"
    assert "patch" not in binary and binary["changes"] == 0

    (cjk,) = commit_detail(gh, repo.cjk)["files"]
    assert cjk["filename"] == "文档/说明.txt"
    assert cjk["patch"] == "@@ -0,0 +1 @@\n+你好"
    assert cjk["blob_url"].endswith("/%E6%96%87%E6%A1%A3/%E8%AF%B4%E6%98%8E.txt")


def test_merge_diffs_against_first_parent(gh: GitHubServer, repo: Repo) -> None:
    body = commit_detail(gh, repo.merge)
    assert sorted(f["filename"] for f in body["files"]) == ["README.md", "feature.py"]
    assert body["stats"] == {"total": 2, "additions": 2, "deletions": 0}


def test_compare_lists_what_head_has_and_base_lacks_and_the_diff_since_their_merge_base(gh: GitHubServer,
                                                                                       repo: Repo) -> None:
    r = get(gh, f"/repos/{REPO}/compare/{repo.binary}...{repo.feature}")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["ahead_by"], body["behind_by"], body["total_commits"]) == ("diverged", 1, 2, 1)
    assert body["merge_base_commit"]["sha"] == repo.cjk and body["base_commit"]["sha"] == repo.binary
    assert [c["sha"] for c in body["commits"]] == [repo.feature]
    assert sorted(f["filename"] for f in body["files"]) == ["README.md", "feature.py"]  # from the merge base
    # the second parent of the merge against the merge: what main brought (the rename and the binary)
    body = get(gh, f"/repos/{REPO}/compare/{repo.feature}...{repo.merge}").json()
    assert body["status"] == "ahead" and [c["sha"] for c in body["commits"]] == [repo.rename, repo.binary, repo.merge]
    assert sorted(f["filename"] for f in body["files"]) == ["logo.bin", "notes.md"]
    # commits are paged oldest first; files are on the first page only
    first = get(gh, f"/repos/{REPO}/compare/{repo.feature}...{repo.merge}", params={"per_page": 2})
    assert [c["sha"] for c in first.json()["commits"]] == [repo.rename, repo.binary]
    second = requests.get(first.links["next"]["url"], timeout=10).json()
    assert [c["sha"] for c in second["commits"]] == [repo.merge] and second["files"] == []
    assert get(gh, f"/repos/{REPO}/compare/{repo.root}...nope").status_code == 404
    assert get(gh, f"/repos/{REPO}/compare/{repo.root}..{repo.merge}").status_code == 404


def test_compare_lists_at_most_300_files(gh: GitHubServer, repo: Repo) -> None:
    body = get(gh, f"/repos/{REPO}/compare/{repo.merge}...{repo.many}").json()
    assert body["ahead_by"] == 1 and len(body["files"]) == 300


def test_removed_file(tmp_path: Path) -> None:
    path = tmp_path / "rm"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "gone.txt").write_text("x\ny\n")
    commit(path, "add", "2026-01-10T00:00:00+00:00")
    (path / "gone.txt").unlink()
    sha = commit(path, "remove", "2026-01-10T01:00:00+00:00")
    with GitHubServer({REPO: path}) as server:
        (f,) = commit_detail(server, sha)["files"]
        assert f["status"] == "removed" and f["sha"] is None and f["deletions"] == 2
        assert f["patch"] == "@@ -1,2 +0,0 @@\n-x\n-y"


def test_files_paging(gh: GitHubServer, repo: Repo) -> None:
    first = get(gh, f"/repos/{REPO}/commits/{repo.many}")
    assert set(first.links) == {"next", "last"}
    page1 = first.json()
    assert len(page1["files"]) == 300
    second = requests.get(first.links["next"]["url"], timeout=10)
    assert "next" not in second.links and set(second.links) == {"prev", "first"}
    page2 = second.json()
    assert len(page2["files"]) == 50
    names = [f["filename"] for f in page1["files"] + page2["files"]]
    assert len(set(names)) == 350
    assert page1["stats"] == page2["stats"] == {"total": 350, "additions": 350, "deletions": 0}
    assert page2["sha"] == page1["sha"] and page2["commit"] == page1["commit"]


def test_files_cap_and_patch_limit(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for i in range(3005):
        (path / f"{i:04d}").write_text("x\n")
    (path / "large.txt").write_text("y" * 200 + "\n")
    sha = commit(path, "huge", "2026-01-10T00:00:00+00:00")
    with GitHubServer({REPO: path}, files_per_page=1000, max_patch_bytes=100) as server:
        r = get(server, f"/repos/{REPO}/commits/{sha}")
        names, pages = [], 0
        while True:
            body = r.json()
            names += [f["filename"] for f in body["files"]]
            pages += 1
            assert body["stats"]["total"] == 3006
            if "next" not in r.links:
                break
            r = requests.get(r.links["next"]["url"], timeout=10)
        assert pages == 3 and len(names) == 3000
        assert "large.txt" not in names  # sorted after the 3005 numbered files
        small = get(server, f"/repos/{REPO}/commits/{sha}").json()["files"][0]
        assert small["patch"] == "@@ -0,0 +1 @@\n+x"
    # The same 201-byte change is too big for a 100-byte patch limit.
    (path / "large.txt").write_text("z" * 200 + "\n")
    sha2 = commit(path, "large", "2026-01-10T01:00:00+00:00")
    with GitHubServer({REPO: path}, max_patch_bytes=100) as server:
        (f,) = commit_detail(server, sha2)["files"]
        assert "patch" not in f and f["additions"] == 1


# ----------------------------------------------------------------------------- headers, limits


def test_etag_304_is_free(gh: GitHubServer) -> None:
    r = get(gh, f"/repos/{REPO}/commits")
    etag = r.headers["ETag"]
    assert etag.startswith('W/"') and len(etag) == 3 + 64 + 1
    remaining = int(r.headers["x-ratelimit-remaining"])
    for _ in range(3):
        again = get(gh, f"/repos/{REPO}/commits", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    third = get(gh, f"/repos/{REPO}/commits", headers={"If-None-Match": 'W/"stale"'})
    assert third.status_code == 200 and third.headers["ETag"] == etag
    assert int(third.headers["x-ratelimit-remaining"]) == remaining - 1
    assert [c.status for c in gh.calls("/commits")] == [200, 304, 304, 304, 200]


def test_rate_limit_headers_and_exhaustion(repo: Repo) -> None:
    with GitHubServer({REPO: repo.path}, anonymous_limit=2) as server:
        before = time.time()
        r1 = get(server, f"/repos/{REPO}")
        assert r1.headers["x-ratelimit-limit"] == "2"
        assert r1.headers["x-ratelimit-remaining"] == "1" and r1.headers["x-ratelimit-used"] == "1"
        assert r1.headers["x-ratelimit-resource"] == "core"
        assert int(r1.headers["x-ratelimit-reset"]) >= before + 3590
        get(server, f"/repos/{REPO}/commits/nope")  # a 422 counts too
        r3 = get(server, f"/repos/{REPO}")
        assert r3.status_code == 403
        assert r3.headers["x-ratelimit-remaining"] == "0"
        assert r3.json()["message"].startswith(API_RATE_MESSAGE_START)
        assert r3.json()["documentation_url"].endswith("#rate-limiting")
        server.set_remaining(0, reset_in=0.3)
        time.sleep(0.4)
        r4 = get(server, f"/repos/{REPO}")
        assert r4.status_code == 200 and r4.headers["x-ratelimit-remaining"] == "1"


def test_exhausted_status_429(repo: Repo) -> None:
    with GitHubServer({REPO: repo.path}, exhausted_status=429) as server:
        server.set_remaining(0)
        r = get(server, f"/repos/{REPO}")
        assert r.status_code == 429 and r.headers["x-ratelimit-remaining"] == "0"
        # The authenticated bucket is exhausted too.
        r = get(server, f"/repos/{REPO}", headers={"Authorization": "Bearer t"})
        assert r.status_code == 429 and r.headers["x-ratelimit-limit"] == "5000"


def test_tokens(repo: Repo) -> None:
    with GitHubServer({REPO: repo.path}, token="s3cret") as server:
        r = get(server, f"/repos/{REPO}", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert r.json() == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                            "status": "401"}
        for scheme in ("Bearer", "token"):
            r = get(server, f"/repos/{REPO}", headers={"Authorization": f"{scheme} s3cret"})
            assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "5000"
        r = get(server, f"/repos/{REPO}")
        assert r.headers["x-ratelimit-limit"] == "60" and r.headers["x-ratelimit-remaining"] == "59"
        assert server.calls()[0].headers["authorization"] == "Bearer wrong"


def test_inject(gh: GitHubServer, repo: Repo) -> None:
    gh.inject(502, count=2, path_contains="/commits")
    assert get(gh, f"/repos/{REPO}").status_code == 200  # does not match
    assert get(gh, f"/repos/{REPO}/commits").status_code == 502
    r = get(gh, f"/repos/{REPO}/commits/{repo.root}")
    assert r.status_code == 502 and r.json()["message"] == "Bad Gateway"
    assert get(gh, f"/repos/{REPO}/commits").status_code == 200

    message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    gh.inject(403, headers={"retry-after": "1"}, body={"message": message})
    r = get(gh, f"/repos/{REPO}")
    assert r.status_code == 403 and r.headers["retry-after"] == "1"
    assert r.json() == {"message": message}
    assert [c.status for c in gh.calls()] == [200, 502, 502, 200, 403]
    assert gh.calls("/commits/")[0].path == f"/repos/{REPO}/commits/{repo.root}"


def test_recorded_requests_and_threads(gh: GitHubServer) -> None:
    def hit():
        for _ in range(5):
            assert get(gh, f"/repos/{REPO}", params={"x": "1"}).status_code == 200

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(gh.requests) == 40
    assert gh.requests[0].method == "GET" and gh.requests[0].query == {"x": "1"}
    assert "user-agent" in gh.requests[0].headers
    r = get(gh, f"/repos/{REPO}")
    assert r.headers["x-ratelimit-remaining"] == str(60 - 41)
