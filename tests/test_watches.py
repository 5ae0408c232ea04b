"""Watches match commits by path, flag, keyword and author, on real diffs of a real git repository (issue 14)."""

from __future__ import annotations

import time
from datetime import datetime, time as clock, timezone

import pytest

from core.errors import BadInput
from core.watches import Mention, Watch
from digest.relevance import narrow
from digest.watches import Glob, check_pattern, hits, path_matcher, touches, why
from storage import subscriptions as subs
from storage import watches as stored
from storage.db import open_db
from tests.conftest import clone_ref, git_service, sample_history, utc

DAY = "2026-01-11"


@pytest.fixture
def day(repo, db):
    shas = sample_history(repo)
    repo.git("checkout", "-q", "main")
    shas["rename"] = repo.commit("docs: move the diffusion page", {
        "docs/diffusion.md": None, "docs/backends/diffusion.md": "# 扩散模型\n使用 Diffusers 后端 🚀\n"},
        utc(2026, 1, 11, 13, 0))
    shas["bob"] = repo.commit("scheduler: breakfast-time tidy", {
        "python/sglang/srt/managers/scheduler.py": "def schedule():\n    return 2  # --enable-fast-path later\n",
    }, utc(2026, 1, 11, 14, 0), author="Bob Builder")
    digest = git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en")
    return shas, {e.commit.sha: e for e in digest.entries}, digest


def matched(watch: Watch, digest) -> list[str]:
    return [h.sha for h in hits([watch], digest.entries)]


def test_a_directory_watch_matches_the_commits_under_it_and_no_other(day):
    shas, entries, digest = day
    w = Watch(1, "path", "python/sglang/srt/")
    assert set(matched(w, digest)) == {shas["side"], shas["breaking"], shas["bob"]}
    assert str(why(w, entries[shas["breaking"]])) == "python/sglang/srt/server_args.py"
    assert matched(Watch(2, "path", "python/sglang/srt/layers/"), digest) == []


def test_a_rename_matches_on_either_side(day):
    shas, entries, digest = day
    assert set(matched(Watch(1, "path", "docs/diffusion.md"), digest)) == {shas["docs"], shas["rename"]}
    assert matched(Watch(2, "path", "docs/backends/"), digest) == [shas["rename"]]


def test_globs_match_names_at_any_depth_and_stars_stop_at_slashes(day):
    shas, _, digest = day
    assert matched(Watch(1, "path", "**.png"), digest) == [shas["breaking"]]
    assert matched(Watch(2, "path", "*.png"), digest) == [shas["breaking"]]  # no slash: a name anywhere
    assert set(matched(Watch(3, "path", "python/*/srt/**"), digest)) == {shas["side"], shas["breaking"], shas["bob"]}
    assert matched(Watch(4, "path", "python/*/managers.py"), digest) == []
    assert path_matcher("python/*/x.py")("python/a/b/x.py") is False
    assert path_matcher("python/**/x.py")("python/a/b/x.py") is True


def test_a_flag_matches_only_on_added_or_removed_lines(day):
    shas, entries, digest = day
    removed = Watch(1, "flag", "--load-balance-*")
    assert matched(removed, digest) == [shas["breaking"]]
    assert str(why(removed, entries[shas["breaking"]])) == "--load-balance-method (removed in python/sglang/srt/server_args.py)"
    # --enable-x is in server_args.py of that commit's diff only as an unchanged line; bob adds a comment naming
    # --enable-fast-path: that is an added line, so it counts
    assert matched(Watch(2, "flag", "--enable-*"), digest) == [shas["bob"]]
    assert matched(Watch(3, "flag", "--enable_fast_path"), digest) == [shas["bob"]]  # `_` and `-` alike


def test_keywords_match_whole_words_in_title_message_or_analysis(day):
    shas, entries, digest = day
    assert matched(Watch(1, "keyword", "KV cache"), digest) == [shas["feature"]]
    assert str(why(Watch(1, "keyword", "kv cache"), entries[shas["feature"]])) == "“kv cache” in the title"
    assert matched(Watch(2, "keyword", "break"), digest) == []  # not in "breakfast" nor "breaking"
    assert matched(Watch(3, "keyword", "扩散"), digest) == [shas["docs"]]


def test_authors_match_by_name_case_insensitively(day):
    shas, _, digest = day
    assert matched(Watch(1, "author", "bob builder"), digest) == [shas["bob"]]
    assert matched(Watch(2, "author", "Bob"), digest) == []


def test_a_grouped_merge_matches_through_its_commits_only(day):
    shas, entries, digest = day
    merge = entries[shas["merge"]]
    assert merge.grouped and not merge.analysed
    assert shas["merge"] not in matched(Watch(1, "path", "python/sglang/srt/function_call/"), digest)
    assert shas["side"] in matched(Watch(1, "path", "python/sglang/srt/function_call/"), digest)


def test_patterns_are_checked_before_they_are_stored():
    assert check_pattern("path", " /python/sglang/ ") == "python/sglang/"
    for kind, bad in (("path", "../etc"), ("flag", "enable-x"), ("keyword", "  "), ("path", "x" * 201)):
        with pytest.raises(BadInput):
            check_pattern(kind, bad)


def test_globs_take_linear_time_on_hostile_paths():
    """`*a*a*a*a*a*b` as a regex takes minutes on a 4 KB path of `a`s; the bit-set automaton a few ms."""
    started = time.process_time()
    for pattern in ("*a*a*a*a*a*b", "**a**a**a**a**b", "?*?*?*?*?*b"):
        assert path_matcher(pattern)("a" * 4096) is False
        assert Glob(pattern).fullmatch("a" * 100_000) is False
    assert time.process_time() - started < 10


def test_watches_are_numbered_per_subscription_and_survive_a_reopen(tmp_path):
    now = datetime(2026, 1, 12, tzinfo=timezone.utc)
    db = open_db(tmp_path / "w.db")
    sub = subs.save(db, subs.Subscription("slack", "C1", "sgl-project/sglang", clock(9), "UTC", "en",
                                          skip_authors=("dependabot[bot]",), paths=("python/**",), min_level="high"),
                    now)
    team = Mention("slack", "group", "S0ATT", "@attention-team")
    assert stored.add(db, "slack", "C1", sub.repo, "path", "python/sglang/srt/layers/attention/", team, "U1", now).number == 1
    assert stored.add(db, "slack", "C1", sub.repo, "flag", "--enable-*", None, "U1", now).number == 2
    assert stored.add(db, "slack", "C2", sub.repo, "author", "alice", None, "U1", now).number == 1  # another channel
    assert stored.remove(db, "slack", "C1", sub.repo, 1) and not stored.remove(db, "slack", "C1", sub.repo, 1)
    assert stored.add(db, "slack", "C1", sub.repo, "keyword", "breaking", team, "U1", now).number == 3

    again = open_db(tmp_path / "w.db")
    assert [(w.number, w.kind, w.mention) for w in stored.of(again, "slack", "C1", sub.repo)] == [
        (2, "flag", None), (3, "keyword", team)]
    found = subs.get(again, "slack", "C1", sub.repo)
    assert found.skip_authors == ("dependabot[bot]",) and found.paths == ("python/**",) and found.min_level == "high"
    assert found.daily and found.weekly is None
    subs.delete(again, "slack", "C1", sub.repo)
    assert stored.of(again, "slack", "C1", sub.repo) == [] and len(stored.of(again, "slack", "C2", sub.repo)) == 1


def test_a_subscription_keeps_only_the_commits_on_its_paths_and_not_its_skipped_authors(day):
    shas, _, digest = day
    only_srt = narrow(digest, paths=("python/sglang/srt/**",))
    assert {e.commit.sha for e in only_srt.entries} == {shas["side"], shas["breaking"], shas["bob"], shas["merge"]}
    assert only_srt.narrowed.kept == 3 and only_srt.narrowed.total == len(digest.entries) - 1  # the merge: told
    assert only_srt.stats.total == 4
    no_bob = narrow(digest, skip_authors=("BOB BUILDER",))
    assert shas["bob"] not in {e.commit.sha for e in no_bob.entries} and len(no_bob.entries) == len(digest.entries) - 1
    docs_only = narrow(digest, paths=("docs/",))
    assert shas["merge"] not in {e.commit.sha for e in docs_only.entries}  # none of its commits is kept
    assert narrow(digest) is digest


def test_touches_list_breaking_changes_first_and_each_mention_once(day):
    shas, _, digest = day
    team, ann = Mention("slack", "group", "S0ATT", "@attention-team"), Mention("slack", "user", "U0ANN", "ann")
    watches = [Watch(1, "path", "docs/", ann), Watch(2, "path", "python/sglang/srt/", team),
               Watch(3, "flag", "--load-balance-*", team), Watch(4, "author", "nobody", ann)]
    listed, mentions = touches(watches, digest.entries)
    assert listed[0].entry.commit.sha == shas["breaking"] and [h.watch.number for h in listed[0].hits] == [2, 3]
    assert {t.entry.commit.sha for t in listed} == {shas["docs"], shas["rename"], shas["side"], shas["breaking"],
                                                   shas["bob"]}
    assert mentions == (ann, team)
    assert touches([Watch(1, "author", "nobody", ann)], digest.entries) == ((), ())


def test_chinese_keywords_match_inside_chinese_text_and_long_messages_are_read_in_bounded_time():
    from core.models import Analysis, Commit, Entry

    c = Commit("a/b", "f" * 40, "修复注意力后端的内存泄漏", "修复注意力后端" + "字" * 2_000_000, "Ann", utc(2026, 1, 11))
    e = Entry(c, Analysis(change_type="fix", importance="low", importance_reason="", summary="", lang="zh"))
    assert str(why(Watch(1, "keyword", "注意力"), e)) == "“注意力” in the title"
    started = time.process_time()
    assert why(Watch(2, "keyword", "break"), e) is None  # 2 MB of message: only its first 64 KB is read
    assert time.process_time() - started < 2
    for kind, bad in (("flag", "--"), ("flag", "---"), ("keyword", "\u200b")):
        with pytest.raises(BadInput):
            check_pattern(kind, bad)
