"""Watches and filters as a team uses them (issue 14): commands through the chat grammar, the daily post through
the Publisher to the local Slack server, mentions exactly when a watch matched, everything stored across a restart."""

from __future__ import annotations

from datetime import datetime, timezone

from handlers.app import sync_env_subscriptions
from handlers.schedule import Schedule
from storage import subscriptions as subs
from storage import watches as stored_watches
from tests.gitrepo import GitRepo
from tests.servers.slack import SlackServer
from tests.test_publisher import NOW, publisher_alone
from tests.test_slack import REPO, Recorder, day_of_commits, make_bot, settings_env

GROUP = "<!subteam^S0ATT|@attention-team>"  # as Slack sends a user group typed in a slash command


def test_a_watch_notifies_its_team_exactly_when_its_path_is_touched(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 12)  # layers/ is touched by commits 3 and 8...; commit 7's title is <!channel> …
    with SlackServer(channels=["C1", "C2"]) as slack:
        env = settings_env(tmp_path, slack, repo, SLACK_ADMINS="UADMIN")
        bot = make_bot(env, clock=lambda: NOW)
        said = Recorder()
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", f"watch {REPO} path python/sglang/srt/layers/ notify {GROUP}", said)
        assert "Subscribe this channel" in said.notices[-1]  # a watch belongs to a subscription
        for channel in ("C1", "C2"):
            bot.ops.handle("slack", channel, "UADMIN", "/digest", f"subscribe {REPO} skip-authors nobody", said)
        bot.ops.handle("slack", "C1", "UOTHER", "/digest", f"watch {REPO} path python/ notify {GROUP}", said)
        assert "Only the bot's admins" in said.notices[-1]
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", f"watch {REPO} path python/sglang/srt/layers/ notify {GROUP}", said)
        assert "Watching in" in said.notices[-1] and "@attention-team" in said.notices[-1]
        bot.ops.handle("slack", "C2", "UADMIN", "/digest", f"watch {REPO} path python/sglang/srt/moe/ notify {GROUP}", said)
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", "watches", said)
        assert "1. path `python/sglang/srt/layers/` → @attention-team" in said.notices[-1]
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", "list", said)
        assert "path `python/sglang/srt/layers/`" in said.notices[-1] and "leaves out commits by `nobody`" in said.notices[-1]

        publisher = publisher_alone(env)  # a restart: everything is read back from the database
        schedule = Schedule(publisher.service, publisher, clock=lambda: NOW)
        for channel in ("C1", "C2"):
            schedule.run_daily("slack", channel, REPO)
        c1 = slack.messages("C1", top_level=True)[0]
        c2 = slack.messages("C2", top_level=True)[0]
        body1, body2 = slack.all_text(c1), slack.all_text(c2)
        assert body1.count("<!subteam^S0ATT>") == 1 and "Touches your watches (2)" in body1
        assert "<!subteam" not in body2 and "Touches your watches" not in body2  # nothing under moe/ changed
        # commit 8, "修复 调度器 🚀 <@U123> ping", touches layers/: listed beside the real mention, its ping escaped
        assert "&lt;@U123&gt;" in body1 and "<@U123>" not in body1
        assert "<!channel>" not in body1 + body2
        assert [w.number for w in stored_watches.of(publisher.service.db, "slack", "C1", REPO)] == [1]


def test_quiet_unless_watched_posts_only_a_day_that_touches_a_watch(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 3)  # no breaking change, nothing under layers/ among the first three
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        bot = make_bot(env, clock=lambda: NOW)
        said = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"subscribe {REPO} quiet unless-watched paths python/,docs/", said)
        bot.ops.handle("slack", "C1", "U1", "/digest", f"watch {REPO} path python/sglang/srt/layers/", said)
        sub = subs.get(bot.service.db, "slack", "C1", REPO)
        assert sub.quiet == "unless-watched" and sub.paths == ("python/", "docs/")
        outcome = bot.publisher.post_subscription(sub, datetime(2026, 1, 11, tzinfo=timezone.utc).date())
        assert outcome.status == "quiet" and slack.messages("C1", top_level=True) == []


def test_digest_week_in_slack_answers_with_the_roll_up_and_its_day_buttons(tmp_path):
    """`/digest week` through the real bot over HTTP: progress while days are built, then the week in one
    ephemeral message whose day buttons answer that day's digest; a second ask builds nothing."""
    import json

    from tests.servers.slack import block_action_body, slash_command_body
    from tests.test_slack import post_signed, running_bot

    with running_bot(tmp_path) as (bot, slack, llm, url, shas):
        bot.service.clock = lambda: NOW
        bot.ops.clock = lambda: NOW
        response_url = slack.response_url("C1", "U1")
        post_signed(url + "/slack/events", slash_command_body("/digest", f"2026-01-09..2026-01-11 {REPO}",
                                                              response_url=response_url))
        final = slack.wait_for(lambda: [r for r in slack.responses_to(response_url)
                                        if "Day by day" in json.dumps(r.body, ensure_ascii=False)], timeout=60)
        said = json.dumps([r.body for r in slack.responses_to(response_url)], ensure_ascii=False)
        assert "building 1 of 3 days" in said and "`Sat 01-10` no commits" in said
        assert "`Sun 01-11` 6 commits" in said
        buttons = next(b for b in final[-1].body["blocks"] if b["type"] == "actions")["elements"]
        assert [json.loads(b["value"])["day"] for b in buttons] == ["2026-01-11"]  # the only day with commits
        calls = len(llm.requests)
        day_url = slack.response_url("C1", "U1")
        post_signed(url + "/slack/events", block_action_body(buttons[0]["action_id"], buttons[0]["value"],
                                                             response_url=day_url))
        answered = slack.wait_for(lambda: slack.responses_to(day_url), timeout=30)
        assert "6 commits" in json.dumps(answered[-1].body, ensure_ascii=False) and len(llm.requests) == calls


def test_subscribe_answers_list_and_status_name_every_filter_in_english_and_chinese(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    with SlackServer(channels=["C1", "C2"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo), clock=lambda: NOW)
        said = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"subscribe {REPO} weekly mon 09:00 daily off min medium "
                                                       "skip-authors dependabot[bot] paths python/**", said)
        answer = said.notices[-1]
        assert "weekly only" in answer and "2026-01-12 09:00 UTC" in answer, answer
        for words in ("weekly roll-up Mon 09:00 UTC", "the post lists high and medium commits", "`python/**`",
                      "`dependabot[bot]`"):
            assert words in answer
        bot.ops.handle("slack", "C1", "U1", "/digest", f"watch {REPO} flag --enable-* notify <@U0ANN|ann>", said)
        bot.ops.handle("slack", "C1", "U1", "/digest", "status", said)
        assert "1. flag `--enable-*` → ann" in said.notices[-1] and "`python/**`" in said.notices[-1]
        bot.ops.handle("slack", "C2", "U1", "/digest", f"subscribe {REPO} lang zh paths docs/", said)
        bot.ops.handle("slack", "C2", "U1", "/digest", "list", said)
        assert "只包含涉及 `docs/` 的提交" in said.notices[-1]
        bot.ops.handle("slack", "C2", "U1", "/digest", "help", said)
        assert "/digest watch owner/name" in said.notices[-1] and "/digest week" in said.notices[-1]


def test_digest_repos_subscribes_with_its_filters_and_watches_and_restarts_keep_them_once(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 12)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo, DIGEST_REPOS=(
            f"{REPO} min medium paths python/** watch path python/sglang/srt/layers/ notify <!subteam^S0ATT> "
            "watch keyword change"))
        for _ in range(2):  # a restart re-creates the environment's subscription and watches, once
            bot = make_bot(env, clock=lambda: NOW)
            sync_env_subscriptions(bot.service.db, bot.settings, NOW)
        sub = subs.get(bot.service.db, "slack", "C1", REPO)
        assert sub.source == "env" and sub.min_level == "medium" and sub.paths == ("python/**",)
        watches = stored_watches.of(bot.service.db, "slack", "C1", REPO)
        assert [(w.kind, w.pattern, w.mention and w.mention.id) for w in watches] == [
            ("path", "python/sglang/srt/layers/", "S0ATT"), ("keyword", "change", None)]
        said = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"watch {REPO} author Ada", said)  # one made in chat stays
        bot2 = make_bot({**env, "DIGEST_REPOS": f"{REPO} watch keyword change"}, clock=lambda: NOW)
        sync_env_subscriptions(bot2.service.db, bot2.settings, NOW)
        assert [(w.kind, w.pattern) for w in stored_watches.of(bot2.service.db, "slack", "C1", REPO)] == [
            ("keyword", "change"), ("author", "Ada")]


def test_bot_py_post_honours_the_watches_digest_repos_gives(tmp_path):
    from tests.test_slack import bot_process, finish

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 12)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo, DIGEST_REPOS=f"{REPO} watch path python/sglang/srt/layers/ "
                                                                 "notify <!subteam^S0ATT>")
        assert "posted" in finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1"))
        top = slack.all_text(slack.messages("C1", top_level=True)[0])
        assert "Touches your watches (2)" in top and top.count("<!subteam^S0ATT>") == 1
