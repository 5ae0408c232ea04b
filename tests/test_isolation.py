"""What a destination sees (issue 12, items 4, 5 and 13): a stored digest is found by the branch it was built for,
never another branch's, and read back it keeps its notes and web URL; a clone is answered only where the operator
allowed it."""

from __future__ import annotations

import json
import sqlite3

from digest.sources.git import describe_clone
from storage import subscriptions as subs
from storage.db import MIGRATIONS, open_db
from tests.conftest import git_service, utc
from tests.gitrepo import GitRepo
from tests.servers.openai import Fault, OpenAIServer
from tests.servers.slack import SlackServer, slash_command_body
from tests.test_llm import answer
from tests.test_render import as_shown
from tests.test_slack import (DAY, REPO, bot_process, day_of_commits, finish, llm_env, make_bot, post_signed,
                              settings_env, short_shas_in)

HOSTILE = "SECURITY: every engineer must re-login at https://evil.example/login"


def two_branches(repo: GitRepo) -> tuple[list[str], list[str]]:
    """main: 9 commits on DAY; feature/x: 2 commits on DAY, one with an attacker's title. Both from one base."""
    repo.commit("Initial import", {"README.md": "# project\n"}, utc(2026, 1, 10, 12))
    repo.git("checkout", "-q", "-b", "feature/x")
    feature = [repo.commit(HOSTILE, {"login.py": "URL = 'https://evil.example/login'\n"}, utc(2026, 1, 11, 3)),
               repo.commit("feature x: second step", {"login.py": "URL = None\n"}, utc(2026, 1, 11, 4))]
    repo.git("checkout", "-q", "main")
    main = [repo.commit(f"[Feature] main change {i} (#{100 + i})", {f"src/m{i}.py": f"x = {i}\n"},
                        utc(2026, 1, 11, 5, i)) for i in range(9)]
    return main, feature


def ask(slack: SlackServer, url: str, channel: str, text: str, expect: str, command: str = "/digest") -> str:
    """A signed slash command from `channel`; the text of the answer that contains `expect`."""
    response_url = slack.response_url(channel, "U1")
    status, _, _ = post_signed(url + "/slack/events", slash_command_body(command, text, channel_id=channel,
                                                                         response_url=response_url))
    assert status == 200
    found = slack.wait_for(lambda: [r for r in slack.responses_to(response_url)
                                    if expect in json.dumps(r.body, ensure_ascii=False)], timeout=30)
    return json.dumps(found[-1].body, ensure_ascii=False)


def test_another_branchs_digest_never_replaces_the_default_branchs(tmp_path):
    """A channel subscribed to feature/x builds its digest for the day; the default branch's post to another
    channel (a real `bot.py post` process on the same database) and a channel with no subscription still show main's
    9 commits, and never the attacker's title."""
    repo = GitRepo(tmp_path / "upstream")
    main, _ = two_branches(repo)
    with SlackServer(channels=["C1", "C2", "C3"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        bot = make_bot(env)
        url = f"http://127.0.0.1:{bot.start().port}"
        try:
            assert "Subscribed" in ask(slack, url, "C2", f"subscribe {REPO} branch feature/x", "Subscribed")
            on_x = ask(slack, url, "C2", f"2026-01-11 {REPO}", "commits")
            assert "2 commits" in on_x and "re-login" in on_x  # feature/x's digest is built and stored for the day

            out = finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1"))
            assert "posted" in out
            top = slack.messages("C1", top_level=True)
            assert len(top) == 1
            posted = "\n".join(slack.all_text(m) for m in [top[0], *slack.replies(top[0].ts)])
            assert "9 commits" in slack.all_text(top[0]) and "re-login" not in posted
            assert sorted(short_shas_in(posted)) == sorted(s[:7] for s in main)

            elsewhere = ask(slack, url, "C3", f"2026-01-11 {REPO}", "commits")  # no subscription: the default branch
            assert "9 commits" in elsewhere and "re-login" not in elsewhere
            again = ask(slack, url, "C2", f"2026-01-11 {REPO}", "commits")  # and feature/x's is still its own
            assert "2 commits" in again and "re-login" in again
        finally:
            bot.stop()


def test_a_clone_is_answered_only_where_the_operator_allowed_it(tmp_path):
    """GIT_CLONES may hold a private repository: a channel with no subscription is refused, with what to set, before
    anything is read; the channel DIGEST_REPOS subscribes, and any channel once DIGEST_ALLOWED_REPOS lists it, work."""
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 3)
    with SlackServer(channels=["C1", "C2"]) as slack:
        env = settings_env(tmp_path, slack, repo, DIGEST_ALLOWED_REPOS="", DIGEST_REPOS=REPO)  # C1 is subscribed
        bot = make_bot(env)
        url = f"http://127.0.0.1:{bot.start().port}"
        try:
            for command, text in (("/digest", f"2026-01-11 {REPO}"), ("/analyze", f"{shas[0][:8]} {REPO}"),
                                  ("/digest", f"subscribe {REPO}")):
                refused = ask(slack, url, "C2", text, "local clone", command)
                assert "DIGEST_ALLOWED_REPOS" in refused and "Traceback" not in refused, refused
            assert subs.get(bot.service.db, "slack", "C2", REPO) is None
            assert bot.service.db.execute("SELECT count(*) FROM commits").fetchone()[0] == 0  # nothing was read
            assert "3 commits" in ask(slack, url, "C1", f"2026-01-11 {REPO}", "commits")
        finally:
            bot.stop()
        allowed = make_bot({**env, "DIGEST_ALLOWED_REPOS": "sgl-project/*"})
        url = f"http://127.0.0.1:{allowed.start().port}"
        try:
            assert "3 commits" in ask(slack, url, "C2", f"2026-01-11 {REPO}", "commits")
            assert "local clone" not in ask(slack, url, "C2", f"{shas[0][:8]} {REPO}", "change number 0", "/analyze")
        finally:
            allowed.stop()


def test_a_stored_digest_keeps_its_notes_and_web_url_for_a_second_destination(tmp_path):
    """Posted during an LLM outage to C1, the day is read back from storage by a new service on the same SQLite file
    (no new LLM call) and posted to C2 with its "LLM unavailable since" line and its repository's web URL."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 3)
    with SlackServer(channels=["C1", "C2"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm))
        llm.outage(Fault("status", status=403))
        first = make_bot(env)
        assert first.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        assert "LLM unavailable since" in slack.all_text(slack.messages("C1", top_level=True)[0])

        second = make_bot(env)  # a new service: nothing of the first is in memory
        calls = len(llm.chat_requests)
        posted = second.publisher.post("slack", "C2", REPO, DAY, "UTC", "en", None)
        assert posted.status == "posted"
        assert len(llm.chat_requests) == calls  # read back from storage, not rebuilt
        shown = slack.all_text(slack.messages("C2", top_level=True)[0])
        assert "LLM unavailable since" in shown and "403" in shown
        stored = second.service.find_digest(second.repo_ref(REPO), DAY, "UTC", "en")
        assert stored is not None and stored.web_url == f"https://github.com/{REPO}"
        assert [n for n in stored.notes if "LLM unavailable since" in n and "403" in n]


def test_digests_stored_before_the_migration_get_their_web_url_from_their_commits(tmp_path):
    """A database of the previous schema: its stored digest is read with the repository's web URL (from its first
    commit's URL), and no notes."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    ref = describe_clone(repo.path, REPO)
    built = git_service(open_db(tmp_path / "built.db")).build_digest(ref, DAY, "UTC", "en")
    old = sqlite3.connect(tmp_path / "v4.db")  # the same rows in a database at the previous version
    for number, script in enumerate(MIGRATIONS[:4], start=1):
        old.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    old.execute("ATTACH DATABASE ? AS built", [str(tmp_path / "built.db")])
    for table in ("commits", "files", "digests"):
        columns = ", ".join(row[1] for row in old.execute(f"PRAGMA main.table_info({table})"))
        old.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM built.{table}")
    old.commit()
    old.close()
    migrated = git_service(open_db(tmp_path / "v4.db")).find_digest(ref, DAY, "UTC", "en")
    assert migrated is not None and migrated.entries == tuple(as_shown(built.entries))
    assert migrated.web_url == f"https://github.com/{REPO}" and migrated.notes == ()
