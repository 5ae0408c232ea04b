"""Issue 8: merge commits told once. The day of the issue, built as a real git repository, read from the clone
and through the local GitHub server, analysed through the local OpenAI server whose requests are counted."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from digest import merges
from digest.analysis.llm import LLMAnalyser, LLMConfig
from core.models import Commit, FileChange
from digest.render import json as render_json
from digest.render import markdown as render_markdown
from digest.render import text as render_text
from digest.sources.git import GitSource
from storage.db import open_db
from tests.conftest import clone_ref, git_service, github_ref, github_service, utc
from tests.gitrepo import GitRepo
from tests.servers.openai import OpenAIServer

DAY = date(2026, 1, 11)
FILLER = "".join(f"def keep_{i}():\n    return {i}\n\n\n" for i in range(6))
API = ("def load_model():\n    return 1\n\n\n" + "def old_helper():\n    return 2\n\n\n" + FILLER
       + "def legacy_api():\n    return 3\n")
CONFIG = "name = 'radar'\ntimeout = 10\nretries = 3\n"


def issue_day(repo: GitRepo) -> dict[str, str]:
    """2026-01-11 (UTC) of a repository that merges branches instead of squashing them:
    - #643: a branch of three commits of the day, one removing the public `old_helper`, merged cleanly;
    - fix: a branch whose change conflicts with main's, merged with a resolution written by hand;
    - long: a long-lived branch whose two commits are dated two days earlier;
    - mixed: one commit two days earlier and one of the day that removes the public `legacy_api`."""
    s: dict[str, str] = {}
    s["base"] = repo.commit("Initial import", {"pkg/api.py": API, "pkg/config.py": CONFIG, "pkg/long.py": "x = 1\n"},
                            utc(2026, 1, 8, 10))
    repo.git("checkout", "-q", "-b", "long")
    s["long1"] = repo.commit("long: step one", {"pkg/long.py": "x = 2\n"}, utc(2026, 1, 9, 8))
    s["long2"] = repo.commit("long: step two", {"pkg/long.py": "x = 3\ny = 4\n"}, utc(2026, 1, 9, 9))
    repo.git("checkout", "-q", "-b", "mixed", s["base"])
    s["mixed1"] = repo.commit("mixed: prepare", {"pkg/mixed.py": "ready = True\n"}, utc(2026, 1, 9, 10))
    s["mixed2"] = repo.commit("mixed: drop legacy_api", {"pkg/api.py": API.split("def legacy_api")[0].rstrip() + "\n"},
                              utc(2026, 1, 11, 8))
    repo.git("checkout", "-q", "main")
    s["trace"] = repo.commit("feat: add tracing (#640)", {"pkg/trace.py": "def trace():\n    return 0\n"},
                             utc(2026, 1, 11, 1))
    repo.git("checkout", "-q", "-b", "dataflow-up-32-engine-collapse")
    s["feat1"] = repo.commit("engine: collapse dataflow stages", {"pkg/engine.py": "def run():\n    return 1\n"},
                             utc(2026, 1, 11, 2))
    s["feat2"] = repo.commit("engine: remove old_helper", {"pkg/api.py": API.replace(
        "def old_helper():\n    return 2\n\n\n", "")}, utc(2026, 1, 11, 2, 30))
    s["feat3"] = repo.commit("engine: tests", {"tests/test_engine.py": "def test_run():\n    assert True\n"},
                             utc(2026, 1, 11, 3))
    repo.git("checkout", "-q", "main")
    s["m643"] = repo.merge("dataflow-up-32-engine-collapse",
                           "Merge pull request #643 from octo/dataflow-up-32-engine-collapse", utc(2026, 1, 11, 4))
    repo.git("checkout", "-q", "-b", "fix")
    s["fix1"] = repo.commit("config: raise the timeout", {"pkg/config.py": CONFIG.replace("10", "30")},
                            utc(2026, 1, 11, 5))
    repo.git("checkout", "-q", "main")
    s["lower"] = repo.commit("config: lower the timeout", {"pkg/config.py": CONFIG.replace("10", "5")},
                             utc(2026, 1, 11, 5, 30))
    s["mfix"] = repo.merge_resolving("fix", "Merge branch 'fix'", utc(2026, 1, 11, 6),
                                     {"pkg/config.py": CONFIG.replace("timeout = 10", "timeout = 20  # agreed")})
    s["mlong"] = repo.merge("long", "Merge branch 'long'", utc(2026, 1, 11, 7))
    s["mmixed"] = repo.merge("mixed", "Merge branch 'mixed'", utc(2026, 1, 11, 9))
    return s


def answer(req: dict) -> str:
    """Brief or deep, as a model would: high with the breaking change when the diff removes a public function,
    worded differently for a merge than for the commit that made it."""
    user = req["messages"][1]["content"]
    merge = "(merge commit" in user
    removed = re.findall(r"^-def (old_helper|legacy_api)\(", user, flags=re.M)
    breaking = [f"Removes `{n}()` from `pkg/api.py`" if merge else f"public `{n}` removed (pkg/api.py)" for n in removed]
    data = {"change_type": "refactor", "importance": "high" if breaking else "low",
            "importance_reason": "removes a public function" if breaking else "small change",
            "summary": "Changes the package.", "impact_scope": ["pkg"], "breaking_changes": breaking}
    if "deep analysis" in req["messages"][0]["content"]:
        data.update({"insights": {"architecture": "", "performance": "", "security": "", "maintainability": ""},
                     "risks": [], "suggestions": []})
    return json.dumps(data)


def analyser(server: OpenAIServer) -> LLMAnalyser:
    return LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model", max_retries=0,
                                 timeout=5))


def read_shas(server: OpenAIServer, depth: str = "brief") -> list[str]:
    """The commits the LLM was asked about, one per request."""
    deep = [("deep analysis" in r["messages"][0]["content"]) for r in server.requests]
    return [re.search(r"^Commit: ([0-9a-f]{40})", r["messages"][1]["content"], re.M).group(1)
            for r, d in zip(server.requests, deep) if d == (depth == "deep")]


@pytest.fixture
def llm_server():
    with OpenAIServer(responder=answer) as server:
        yield server


def by_sha(digest) -> dict:
    return {e.commit.sha: e for e in digest.entries}


def test_the_issue_day_from_a_clone(repo, db, llm_server):
    s = issue_day(repo)
    digest = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC")
    entries = by_sha(digest)
    assert set(entries) == {s[k] for k in ("trace", "feat1", "feat2", "feat3", "m643", "fix1", "lower", "mfix",
                                           "mlong", "mixed2", "mmixed")}
    # what the LLM read: every commit once, the conflict merge through its resolution, the merges that bring in
    # older commits from their diff; never the merge of #643, which has nothing of its own
    briefs = read_shas(llm_server)
    assert sorted(briefs) == sorted(s[k] for k in ("trace", "feat1", "feat2", "feat3", "fix1", "lower", "mixed2",
                                                   "mfix", "mlong", "mmixed"))
    assert sorted(read_shas(llm_server, "deep")) == sorted([s["feat2"], s["mixed2"], s["mmixed"]])
    assert len(llm_server.requests) == 13  # before issue 8: 11 briefs + 4 deep (#643 carried the removal)

    m643 = entries[s["m643"]]
    assert m643.grouped and not m643.analysed and m643.deep is None
    assert m643.merged == (s["feat3"], s["feat2"], s["feat1"])
    assert m643.importance == "high"  # the highest of its commits
    assert all(entries[s[k]].merged_into == s["m643"] for k in ("feat1", "feat2", "feat3"))

    mfix = entries[s["mfix"]]
    assert mfix.grouped and mfix.analysed and mfix.own_only and mfix.merged == (s["fix1"],)
    (own_request,) = [r for r in llm_server.requests if s["mfix"] in r["messages"][1]["content"]]
    prompt = own_request["messages"][1]["content"]
    assert "only the changes it makes beyond its parents" in prompt
    assert "+timeout = 20  # agreed" in prompt and "pkg/config.py" in prompt
    assert "engine" not in prompt and "trace" not in prompt  # nothing of the branches it merges

    for key, brought in (("mlong", ("long2", "long1")), ("mmixed", ("mixed2", "mixed1"))):
        e = entries[s[key]]
        assert not e.grouped and e.analysed and e.merged == tuple(s[k] for k in brought)

    # each removal listed once, under the commit that made it; the merge that carries one refers to it
    assert [entries[s["feat2"]].breaking_changes, entries[s["mixed2"]].breaking_changes] == [
        ["public `old_helper` removed (pkg/api.py)"], ["public `legacy_api` removed (pkg/api.py)"]]
    mixed = entries[s["mmixed"]]
    assert mixed.best.breaking_changes == ["Removes `legacy_api()` from `pkg/api.py`"]
    assert mixed.breaking_changes == [] and mixed.breaking_told_in == (s["mixed2"],)
    assert digest.stats.breaking == 2 and digest.stats.merges == 4 and digest.stats.grouped == 2

    # rebuilt: nothing is read again
    sent = len(llm_server.requests)
    again = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC")
    assert len(llm_server.requests) == sent
    assert again.entries == digest.entries
    stored = git_service(db).find_digest(clone_ref(repo), DAY, "UTC", "en")
    assert [(e.merged, e.grouped, e.analysed, e.merged_into, e.breaking_changes) for e in stored.entries] == [
        (e.merged, e.grouped, e.analysed, e.merged_into, e.breaking_changes) for e in digest.entries]


def test_every_renderer_shows_merges_the_same_way(repo, db, llm_server):
    s = issue_day(repo)
    digest = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC")
    label = "Merge #643 (dataflow-up-32-engine-collapse): 3 commits"
    text = render_text.render_digest(digest)
    markdown = render_markdown.render_digest(digest)
    for shown in (text, markdown):
        assert label in shown
        for name in ("old_helper", "legacy_api"):  # each removal listed once, by the commit that made it
            assert shown.count(f"`{name}` removed") == 1 and f"Removes `{name}()`" not in shown
        assert "listed under " + s["mixed2"][:7] in shown
        assert "brings in 2 commits" in shown
        assert "⚠️ 2 breaking changes" in shown
    block = text.split(label)[1].split("\n\n")[0]  # the merge's own lines in the text view: its commits
    assert [line.split()[1] for line in block.splitlines() if "↳" in line] == [s[k][:7] for k in ("feat3", "feat2", "feat1")]
    assert f"](#c-{s['feat2'][:7]})" in markdown.split(label, 2)[2]  # linked from the merge to its commit
    data = {c["sha"]: c for c in json.loads(render_json.render_digest(digest))["commits"]}
    assert data[s["m643"]]["merged"] == [s["feat3"], s["feat2"], s["feat1"]]
    assert data[s["m643"]]["analysed"] is False and data[s["m643"]]["analysis"] is None
    assert data[s["m643"]]["importance"] == "high" and data[s["feat1"]]["merged_into"] == s["m643"]
    assert data[s["mfix"]]["analysed_from"] == "own_changes" and data[s["mlong"]]["analysed_from"] == "diff"
    assert data[s["mfix"]]["analysed"] is True and data[s["mlong"]]["merged"] == [s["long2"], s["long1"]]
    assert data[s["mmixed"]]["breaking_changes"] == [] and data[s["mmixed"]]["breaking_told_in"] == [s["mixed2"]]
    assert data[s["trace"]]["merged"] == [] and data[s["trace"]]["analysed"] is True


def short_shas(text: str) -> list[str]:
    return re.findall(r"`([0-9a-f]{7})`", text)


def test_a_grouped_merge_is_told_through_its_commits_the_same_in_slack_and_feishu(repo, db, llm_server):
    """Issue 13: a grouped merge takes no slot of its own: its commits stand in the lists, each "via #643", each
    once; Slack and Feishu name the same commits in the same order; the coverage line counts the merge."""
    from digest.render import feishu as render_feishu
    from digest.render import slack as render_slack
    from tests.servers.feishu import card_problem
    from tests.servers.slack import check_message

    s = issue_day(repo)
    digest = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC")
    top = render_slack.summary_blocks(digest)
    replies = render_slack.detail_messages(digest)
    assert check_message("top", top) is None and all(check_message("reply", b) is None for b, _ in replies)
    summary = json.dumps(top, ensure_ascii=False)
    thread = json.dumps([blocks for blocks, _ in replies], ensure_ascii=False)
    assert "Merge #643" not in summary + thread and "Merge pull request #643" not in summary + thread
    assert s["m643"][:7] not in summary + thread  # never shown alone ...
    assert s["m643"] in {sha for _, shas in replies for sha in shas}  # ... but accounted for by a reply
    for k in ("feat1", "feat2", "feat3"):
        assert short_shas(thread).count(s[k][:7]) == 1
    assert thread.count("via #643") == 3
    assert summary.count("`old_helper` removed") == 1 and "Removes `legacy_api()`" not in summary + thread
    assert thread.count("`old_helper` removed") == 1
    assert "2 breaking changes" in summary and "1 merge told through its commits" in summary
    (card, _), details = render_feishu.digest_cards(digest, app=True)
    assert card_problem(card) is None and all(card_problem(c) is None for c, _ in details)
    cards = json.dumps([c for c, _ in details], ensure_ascii=False)
    assert short_shas(cards) == short_shas(thread)  # the same commits in the same order
    assert cards.count("via &#35;643") == 3 and "1 merge told through its commits" in json.dumps(card)
    top_shas = [sha for sha in re.findall(r"/commit/([0-9a-f]{40})", summary)]
    assert top_shas == re.findall(r"/commit/([0-9a-f]{40})", json.dumps(card))


def test_the_issue_day_through_github_gives_the_same_digest(repo, tmp_path, github):
    s = issue_day(repo)
    with OpenAIServer(responder=answer) as by_git_llm:
        by_git = git_service(open_db(tmp_path / "a.db"), analyser(by_git_llm)).build_digest(clone_ref(repo), DAY, "UTC")
    with OpenAIServer(responder=answer) as by_github_llm:
        service, _ = github_service(open_db(tmp_path / "b.db"), github, analyser(by_github_llm))
        by_github = service.build_digest(github_ref(), DAY, "UTC")
        assert sorted(read_shas(by_github_llm)) == sorted(read_shas(by_git_llm))
        assert len(by_github_llm.requests) == len(by_git_llm.requests) == 13

    def view(digest) -> list[tuple]:
        return [(e.commit.sha, e.merged, e.grouped, e.analysed, e.merged_into, e.importance, e.breaking_changes,
                 e.breaking_told_in, e.own_only) for e in digest.entries]

    assert view(by_github) == view(by_git)
    assert by_github.stats == by_git.stats
    # the listing and each commit's parents are enough for #643 and fix; the branches that go back further
    # are compared once, and only grouped merges are compared with each parent for their own changes
    compared = sorted(r.path.rsplit("/", 1)[1] for r in github.calls("/compare/"))
    assert compared == sorted(f"{s[a]}...{s[b]}" for a, b in (
        ("mfix", "long2"), ("mlong", "mixed2"),  # what long and mixed bring in: their first parent ... their tip
        ("trace", "m643"), ("feat3", "m643"), ("lower", "mfix"), ("fix1", "mfix")))  # each parent ... the merge
    calls = len(github.requests)
    service.build_digest(github_ref(), DAY, "UTC")
    assert not [r for r in github.requests[calls:] if "/compare/" in r.path]  # stored: never compared again


def test_own_changes_agree_with_git_diff_tree_cc(repo):
    s = issue_day(repo)
    source = GitSource(clone_ref(repo))
    for key in ("m643", "mfix", "mlong", "mmixed"):
        combined = repo.git("diff-tree", "--cc", "--no-commit-id", s[key])  # --name-only would list like -c
        cc = re.findall(r"^diff --cc (.+)$", combined, flags=re.M)
        merge = source.commit(s[key])
        own = source.own_changes(merge)
        assert [f.path for f in own] == cc, key
    (resolution,) = source.own_changes(source.commit(s["mfix"]))
    assert resolution.patch.count("\n+") + resolution.patch.startswith("+") == 1 and "+timeout = 20" in resolution.patch


def test_a_merge_told_in_one_zone_and_read_whole_in_another_keeps_both_analyses(repo, db, llm_server):
    """fix1 (05:00 UTC) and its merge (06:00 UTC) fall on different days at UTC-6: there the merge brings in a
    commit of another day and is read whole; the analysis of its resolution alone is not reused for it."""
    s = issue_day(repo)
    service = git_service(db, analyser(llm_server))
    service.build_digest(clone_ref(repo), DAY, "UTC")
    first = [r for r in llm_server.requests if s["mfix"] in r["messages"][1]["content"]]
    west = service.build_digest(clone_ref(repo), DAY, "Etc/GMT+6")
    e = by_sha(west)[s["mfix"]]
    assert not e.grouped and e.analysed and e.merged == (s["fix1"],)
    later = [r for r in llm_server.requests if s["mfix"] in r["messages"][1]["content"]][len(first):]
    assert len(later) == 1 and "diff against the first parent" in later[0]["messages"][1]["content"]
    service.build_digest(clone_ref(repo), DAY, "UTC")  # and back: both are stored, nothing is asked again
    assert len([r for r in llm_server.requests if s["mfix"] in r["messages"][1]["content"]]) == 2


def test_when_github_cannot_compare_merges_are_read_whole_and_asked_again_next_time(repo, db, github, llm_server):
    s = issue_day(repo)
    service, _ = github_service(db, github, analyser(llm_server))
    github.inject(502, count=1000, path_contains="/compare/")
    degraded = by_sha(service.build_digest(github_ref(), DAY, "UTC"))
    assert not degraded[s["mlong"]].merged and degraded[s["mlong"]].analysed  # read whole, as before issue 8
    m643 = degraded[s["m643"]]  # the listing was enough to group #643, but its own changes are unknown: read whole
    assert m643.grouped and m643.analysed and not m643.own_only and s["m643"] in read_shas(llm_server)
    assert m643.breaking_changes == [] and m643.breaking_told_in == (s["feat2"],)  # the removal is still told once
    github._injections.clear()
    again = by_sha(service.build_digest(github_ref(), DAY, "UTC"))
    assert again[s["mlong"]].merged == (s["long2"], s["long1"])


def test_a_squash_merge_history_is_unaffected(repo, db, github, llm_server, tmp_path):
    """sglang and vllm squash pull requests: no merge commits, every commit read, nothing grouped or compared."""
    shas = [repo.commit(f"[Feature] change {i} (#{100 + i})", {f"python/pkg/m{i}.py": f"def f{i}():\n    return {i}\n"},
                        utc(2026, 1, 11, 1 + i)) for i in range(6)]
    shas.append(repo.commit("[Refactor] drop a helper (#200)", {"python/pkg/m0.py": "x = 0\n"}, utc(2026, 1, 11, 9)))
    digest = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC")
    assert sorted(read_shas(llm_server)) == sorted(shas)
    assert all(e.analysed and not e.merged and not e.grouped and e.merged_into is None for e in digest.entries)
    assert digest.stats.merges == 0 and digest.stats.grouped == 0
    service, _ = github_service(open_db(tmp_path / "github.db"), github)
    service.build_digest(github_ref(), DAY, "UTC")
    assert github.calls("/compare/") == []


# -- the pure parts --------------------------------------------------------------------------------------

def change(path: str, patch: str | None) -> FileChange:
    return FileChange(path=path, status="modified", additions=0, deletions=0, patch=patch)


def test_own_changes_keeps_only_the_hunks_that_differ_from_every_parent():
    # vs the first parent: the branch's line 2 and the hand-written line 9; vs the second: main's line 5 and line 9
    first = change("a.py", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -8,3 +8,3 @@\n h\n-i\n+I!\n j")
    second = change("a.py", "@@ -4,3 +4,3 @@\n d\n-e\n+E\n f\n@@ -8,3 +8,3 @@\n h\n-i2\n+I!\n j")
    (own,) = merges.own_changes([first], [[second]])
    assert own.patch == "@@ -8,3 +8,3 @@\n h\n-i\n+I!\n j" and (own.additions, own.deletions) == (1, 1)
    clean = change("a.py", "@@ -4,3 +4,3 @@\n d\n-e\n+E\n f")
    assert merges.own_changes([first], [[clean]]) == ()  # each side's change taken as it was: a clean merge
    assert merges.own_changes([first], [[]]) == ()  # the file is the second parent's as it is
    binary = change("logo.png", None)
    assert merges.own_changes([binary], [[binary]]) == (binary,)  # differs from both, unreadable: counted whole


def test_plan_groups_a_merge_only_when_all_it_brings_in_is_listed():
    def commit(sha: str, *parents: str) -> Commit:
        return Commit(repo="o/r", sha=sha, title=sha, message=sha, author="a", committed_at=utc(2026, 1, 11),
                      parents=parents)

    # newest first: an outer merge (m2) of a branch that holds an inner merge (m1) of b1; m3 brings in old o1
    listed = [commit("m3", "m2", "o1"), commit("m2", "a1", "c2"), commit("c2", "m1"), commit("m1", "c1", "b1"),
              commit("b1", "c1"), commit("c1", "a1"), commit("a1", "x0")]
    found = {c.sha: merges.merged_within(c, listed) for c in listed if c.is_merge}
    assert found == {"m3": None, "m2": ("c2", "m1", "b1", "c1"), "m1": ("b1",)}
    found["m3"] = ("o1",)  # from the source: o1 is older than the listing
    plan = merges.plan(listed, found)
    assert plan.grouped == {"m1", "m2"}
    assert plan.merged_into == {"c2": "m2", "m1": "m2", "c1": "m2", "b1": "m1"}  # the innermost merge


def test_a_merge_told_through_its_commits_is_answered_with_them_in_every_chat_renderer(repo, db, llm_server):
    """The Deep analysis of a grouped merge (issue 12): its commits and their analyses as its digest told them,
    no LLM call; a merge that is not grouped is analysed as before."""
    from digest.render import feishu as render_feishu
    from digest.render import slack as render_slack
    from tests.servers.feishu import card_problem
    from tests.servers.slack import check_message

    s = issue_day(repo)
    service = git_service(db, analyser(llm_server))
    service.build_digest(clone_ref(repo), DAY, "UTC")
    sent = len(llm_server.requests)
    report = service.told_merge(clone_ref(repo), s["m643"], "zh")  # only an English digest is stored: it is used
    assert len(llm_server.requests) == sent
    assert [e.commit.sha for e in report.merged] == [s["feat3"], s["feat2"], s["feat1"]]
    blocks = render_slack.report_blocks(report)
    card = render_feishu.report_card(report)
    assert check_message("merge", blocks) is None and card_problem(card) is None
    for shown in (json.dumps(blocks, ensure_ascii=False), json.dumps(card, ensure_ascii=False)):
        assert "Merge #643 (dataflow-up-32-engine-collapse): 3 commits" in shown
        assert all(s[k][:7] in shown for k in ("feat1", "feat2", "feat3"))
        assert "removed (pkg/api.py)" in shown  # feat2's breaking change (each platform escapes the name)
    assert service.told_merge(clone_ref(repo), s["mlong"], "en") is None  # brings in older commits: not grouped
    assert service.told_merge(clone_ref(repo), s["feat1"], "en") is None  # not a merge
