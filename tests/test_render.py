"""Renderers are pure functions of a Digest: checked on real digests built from real repositories."""

from __future__ import annotations

import json
import re
from datetime import date

from digest.render import json as render_json
from digest.render import markdown as render_markdown
from digest.render import text as render_text
from tests.conftest import clone_ref, git_service, sample_history, utc

DAY = date(2026, 1, 11)


def test_zh_markdown_with_cjk_and_emoji_round_trips_byte_identical(repo, db, tmp_path):
    sample_history(repo)
    digest = git_service(db).build_digest(clone_ref(repo), DAY, "Asia/Shanghai", "zh")
    report = render_markdown.render_digest(digest)
    path = tmp_path / "report.md"
    path.write_text(report, encoding="utf-8")
    raw = path.read_bytes()
    assert raw == report.encode("utf-8") and raw.decode("utf-8") == report
    assert "扩散" in report and "🚀" in report and "\ufffd" not in report
    assert "本日共 5 个提交 | 🔴 高 2 | 🟡 中 2 | 🟢 低 1" in report
    assert "| 2026-01-11 09:34:09 | Ada Lovelace |" in report  # 01:34:09 UTC shown in Shanghai time
    assert "功能增强" in report and "破坏性变更" in report


def test_contents_links_all_resolve_to_explicit_anchors(repo, db):
    sample_history(repo)
    report = render_markdown.render_digest(git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en"))
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', report))
    links = set(re.findall(r"\]\(#([^)]+)\)", report))
    assert links and links <= anchors
    assert "5 commits | 🔴 high 2 | 🟡 medium 2 | 🟢 low 1" in report
    assert "[#16273](https://github.com/sgl-project/sglang/pull/16273)" in report  # the PR number is a link


def test_untrusted_text_cannot_ping_link_or_inject(repo, db):
    evil = ("<!channel> <@U123> [click](https://evil.example) <script>alert(1)</script> | cell "
            "\x1b[2J\u202e *bold* `code | span`")
    repo.commit(evil, {"src/a.py": "x = 1\n"}, utc(2026, 1, 11, 5, 0))
    digest = git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en")
    md = render_markdown.render_digest(digest)
    unescaped = re.compile(r"(?<!\\)(<!channel|<@U123|<script|\]\(https://evil)")
    assert not unescaped.search(md), unescaped.search(md)
    assert "\\<!channel\\>" in md
    assert "\\[click\\]" in md and "`code \\| span`" in md and "\x1b" not in md and "\u202e" not in md
    table_row = next(line for line in md.splitlines() if "click" in line and line.startswith("| "))
    assert table_row.count(" | ") == 2  # the title's `|` did not add a table cell
    text = render_text.render_digest(digest)
    assert "\x1b" not in text and "\u202e" not in text and "<!channel>" in text  # the terminal shows it as typed
    data = json.loads(render_json.render_digest(digest))
    assert data["commits"][0]["title"] == evil.split("\n")[0]  # JSON keeps the exact text


def test_an_empty_day_renders_in_every_format(repo, db):
    sample_history(repo)
    digest = git_service(db).build_digest(clone_ref(repo), date(2026, 1, 2), "UTC", "zh")
    assert "没有提交" in render_markdown.render_digest(digest)
    assert "没有提交" in render_text.render_digest(digest)
    assert json.loads(render_json.render_digest(digest))["commits"] == []


def as_shown(entries: tuple) -> list:
    """Entries as a stored digest reads them back: everything shown, no diffs (they stay in storage)."""
    from dataclasses import replace

    return [replace(e, commit=replace(e.commit, files=tuple(replace(f, patch=None) for f in e.commit.files)))
            for e in entries]


def test_a_stored_digest_is_found_again(repo, db):
    sample_history(repo)
    built = git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en")
    found = git_service(db).find_digest(clone_ref(repo), DAY, "UTC", "en")
    assert found is not None and found.entries == tuple(as_shown(built.entries)) and found.stats == built.stats
    assert all(f.patch is None for e in found.entries for f in e.commit.files)
    assert git_service(db).find_digest(clone_ref(repo), DAY, "UTC", "zh") is None


def test_a_digest_rebuilt_at_the_same_instant_is_read_back_as_rebuilt(repo, db):
    """Stored digests read back are kept in memory by their stored row: a rebuild (here with a frozen clock, so the
    same built_at) that changes an analysis is never answered from the old copy."""
    from dataclasses import replace

    from storage import digests as stored_digests

    sample_history(repo)
    service = git_service(db)
    built = service.build_digest(clone_ref(repo), DAY, "UTC", "en")
    assert service.find_digest(clone_ref(repo), DAY, "UTC", "en").entries == tuple(as_shown(built.entries))  # kept
    first = built.entries[0]
    changed = replace(built, entries=(replace(first, analysis=first.analysis.model_copy(
        update={"summary": "Rewritten by the backfill."})),) + built.entries[1:])
    stored_digests.save_digest(db, changed)
    again = service.find_digest(clone_ref(repo), DAY, "UTC", "en")
    assert again.built_at == built.built_at and again.entries[0].analysis.summary == "Rewritten by the backfill."


def test_a_10k_title_and_a_hostile_file_name_render_safely(repo, db):
    repo.commit("Add " + "very " * 2000 + "long title", {"a\n<img src=x onerror=alert(1)>\n## pwned.py": "x = 1\n"},
                utc(2026, 1, 11, 5, 0))
    digest = git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en")
    analysis = digest.entries[0].analysis
    assert len(analysis.summary) <= 4000 and analysis.summary.endswith("…")
    md = render_markdown.render_digest(digest)
    outside_code = re.sub(r"`[^`\n]*`", "", md)  # a code span shows HTML as text
    assert not re.search(r"(?<!\\)<img", outside_code) and "\n## pwned" not in md
    text = render_text.render_digest(digest)
    assert "\n## pwned" not in text and "\n<img" not in text


def test_chat_links_name_the_pull_request_once():
    """`Fix x (#123)` is linked as "Fix x" then "#123" to its pull request, not "Fix x (#123) (#123)"."""
    import json as json_
    from datetime import datetime, timezone

    from digest.analysis import rules
    from core.models import Digest, Entry
    from digest.render import feishu, slack
    from core.window import day_window
    from tests.test_analysis import change, commit

    c = commit("Fix the scheduler race (#16906)", change("python/sglang/srt/scheduler.py", 40, 2))
    d = Digest("sgl-project/sglang", day_window(DAY, "UTC"), "en", "main", (Entry(c, rules.analyse(c)),),
               datetime.now(timezone.utc), web_url="https://github.com/sgl-project/sglang")
    for shown in (json_.dumps(slack.summary_blocks(d) + slack.detail_messages(d)[0][0]),
                  json_.dumps(feishu.summary_card(d)) + json_.dumps(feishu.detail_cards(d)[0][0])
                  + feishu.commit_markdown(d.entries[0], "en", d.web_url)):
            links = shown.count("sgl-project/sglang/pull/16906")
            assert links >= 1 and shown.count("#16906") + shown.count("&#35;16906") == links  # each "#16906" is the link


def test_counts_say_one_file_and_two_files_in_english_and_have_no_plural_in_chinese(repo, db):
    from digest.labels import text

    assert text("en", "breaking_count", n=1) == "⚠️ 1 breaking change"
    assert text("en", "breaking_count", n=2) == "⚠️ 2 breaking changes"
    assert text("zh", "breaking_count", n=1) == "⚠️ 1 项破坏性变更"
    repo.commit("fix: one change (#1)", {"python/pkg/one.py": "def f():\n    return 1\n" * 20},
                utc(2026, 1, 11, 8, 0))
    digest = git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en")
    shown = render_text.render_digest(digest) + render_markdown.render_digest(digest)
    assert "1 commit " in shown or "1 commit\n" in shown or "1 commit |" in shown
    assert not re.search(r"\b1 (commits|files|breaking changes)\b", shown), shown
    from digest.render import slack as render_slack

    assert render_slack.details_fallback(digest, (digest.entries[0].commit.sha,)).endswith(": 1 commit")
