"""`bot.py doctor` as an operator runs it: a subprocess against the local Slack, Feishu, OpenAI and GitHub servers,
a real clone and a real SQLite file; one line per part, the fix on a failing line, exit 0 only when all pass."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time as clock_time
from pathlib import Path

import pytest

from handlers.doctor import Check, manifest_scopes, render
from storage import subscriptions as subs
from storage.db import open_db
from tests.conftest import ROOT, NOW, utc
from tests.gitrepo import GitRepo
from tests.servers.feishu import FeishuServer
from tests.servers.github import GitHubServer
from tests.servers.openai import OpenAIServer
from tests.servers.slack import SlackServer
from tests.test_cli import run
from tests.test_lark_internals import PINNED, shadowed

REPO = "sgl-project/sglang"
MANIFEST_SCOPES = ("chat:write", "commands", "channels:history", "groups:history")  # manifest.yml, as granted


def secret(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class World:
    tmp: Path
    env: dict[str, str]
    slack: SlackServer
    feishu: FeishuServer
    llm: OpenAIServer
    github: GitHubServer
    clone: GitRepo

    @property
    def db(self) -> str:
        return self.env["DATABASE_PATH"]

    def subscribe(self, platform: str, channel: str, branch: str | None = None) -> None:
        db = open_db(self.db)
        subs.save(db, subs.Subscription(platform=platform, channel=channel, repo=REPO, at=clock_time(9, 0), zone="UTC",
                                        lang="en", branch=branch), NOW)
        db.conn.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clone = GitRepo(tmp_path / "clone")
    clone.commit("Initial import", {"README.md": "# x\n"}, utc(2026, 1, 10, 12, 0))
    slack_token, app_token = secret("xoxb-"), secret("xapp-")
    feishu_secret, llm_key, github_token = secret("fs"), secret("sk-"), secret("ghp_")
    with SlackServer(bot_token=slack_token, app_token=app_token, channels=["C1", "C2"],
                     scopes=MANIFEST_SCOPES) as slack, \
            FeishuServer(app_secret=feishu_secret, chats=["oc_1"]) as feishu, \
            OpenAIServer(api_key=llm_key) as llm, \
            GitHubServer({REPO: clone.path}, token=github_token) as github:
        env = {"DATABASE_PATH": str(tmp_path / "radar.db"), "SLACK_BOT_TOKEN": slack_token,
               "SLACK_APP_TOKEN": app_token, "SLACK_API_URL": slack.api_url, "SLACK_CHANNEL": "C1",
               "FEISHU_APP_ID": feishu.app_id, "FEISHU_APP_SECRET": feishu_secret, "FEISHU_BASE_URL": feishu.url,
               "FEISHU_CHAT_ID": "oc_1", "LLM_BASE_URL": llm.url + "/v1", "LLM_API_KEY": llm_key,
               "LLM_MODEL": "test-model", "GITHUB_TOKEN": github_token, "GITHUB_API_URL": github.url,
               "GIT_CLONES": f"{REPO}={clone.path}", "DIGEST_REPOS": REPO,
               "FEISHU_WEBHOOK_URL": f"{feishu.url}/open-apis/bot/v2/hook/{feishu.webhook_token}",
               "FEISHU_WEBHOOK_SECRET": secret("wh")}
        yield World(tmp_path, env, slack, feishu, llm, github, clone)


def doctor(world: World, **changes: str):
    started = time.monotonic()
    out = run("doctor", env={**world.env, **changes}, cwd=world.tmp)
    return out, time.monotonic() - started


def lines(out) -> dict[str, str]:
    """Check name -> its whole line, for the ✓ / ✗ lines."""
    found = {}
    for line in out.stdout.splitlines():
        if m := re.match(r"([✓✗]) ([^:]+): ", line):
            found[m.group(2)] = line
    return found


def assert_no_secret(world: World, out) -> None:
    """No secret, nor any 8 characters of one, in what doctor printed."""
    shown = out.stdout + out.stderr
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "FEISHU_APP_SECRET", "LLM_API_KEY", "GITHUB_TOKEN",
                 "FEISHU_WEBHOOK_SECRET"):
        value = world.env[name]
        assert not any(value[i:i + 8] in shown for i in range(len(value) - 7)), name


def hooktoken_hidden(world: World, out) -> bool:
    return world.feishu.webhook_token not in out.stdout + out.stderr  # the webhook URL's path is its secret


def test_every_part_passes_and_doctor_exits_0_with_a_line_each(world):
    world.subscribe("slack", "C2", branch="main")
    out, _ = doctor(world)
    assert out.returncode == 0, out.stdout + out.stderr
    found = lines(out)
    assert list(found) == [f"database {world.db}", "Slack token", "Slack scopes", "Slack channel C1",
                           "Slack channel C2", "Slack Socket Mode", "Feishu app", "Feishu chat oc_1", "Feishu events",
                           "lark-oapi", "Feishu webhook", "LLM test-model", "GitHub", f"clone {REPO}"]
    assert all(line.startswith("✓") for line in found.values()), out.stdout
    assert "output mode json_schema" in found["LLM test-model"]
    assert "token valid; 5000 of 5000 requests left" in found["GitHub"]
    assert "main present" in found[f"clone {REPO}"]
    assert found["lark-oapi"] == f"✓ lark-oapi: {PINNED}, the version the Feishu events were tested with"
    assert out.stdout.strip().endswith("14 checks, all passed")
    assert out.stderr == ""
    assert_no_secret(world, out)
    assert hooktoken_hidden(world, out)
    assert world.slack.messages() == [] and world.feishu.sent() == [] and world.feishu.webhook_posts == []


def test_the_output_mode_that_works_is_reported(world):
    world.llm.reject_json_schema = True
    out, _ = doctor(world)
    assert out.returncode == 0, out.stdout
    assert "output mode json_object" in lines(out)["LLM test-model"]


def test_wrong_tokens_fail_with_the_fix(world):
    wrong = {"SLACK_BOT_TOKEN": secret("xoxb-"), "SLACK_APP_TOKEN": secret("xapp-"), "FEISHU_APP_SECRET": secret("fs")}
    out, _ = doctor(world, **wrong)
    assert out.returncode == 1
    found = lines(out)
    assert found["Slack token"].startswith("✗") and "invalid_auth" in found["Slack token"]
    assert "update SLACK_BOT_TOKEN" in found["Slack token"]
    assert found["Slack Socket Mode"].startswith("✗") and "connections:write" in found["Slack Socket Mode"]
    assert found["Feishu app"].startswith("✗") and "FEISHU_APP_SECRET" in found["Feishu app"].split("→")[1]
    assert found["LLM test-model"].startswith("✓")  # the other parts are still checked
    assert out.stdout.strip().endswith("checks failed")
    assert_no_secret(World(**{**world.__dict__, "env": {**world.env, **wrong}}), out)


def test_a_channel_the_bot_is_not_in_names_the_invite(world):
    world.slack.set_channel("C2", "not_in_channel")
    world.subscribe("slack", "C2")
    out, _ = doctor(world)
    assert out.returncode == 1
    found = lines(out)
    assert found["Slack channel C1"].startswith("✓")
    assert found["Slack channel C2"].startswith("✗") and "/invite @Commit Radar" in found["Slack channel C2"]


def test_a_missing_scope_and_an_exhausted_github_limit_are_named(world):
    world.slack.scopes = ("chat:write", "commands", "channels:history")
    world.github.set_remaining(0)
    out, _ = doctor(world)
    assert out.returncode == 1
    line = lines(out)["Slack scopes"]
    assert line.startswith("✗ Slack scopes: missing groups:history") and "reinstall the app" in line
    assert re.match(r"✗ GitHub: token valid; 0 of 5000 requests left .* → wait for the reset$", lines(out)["GitHub"])


def test_an_llm_key_refused_with_401_names_the_variable(world):
    out, _ = doctor(world, LLM_API_KEY=secret("sk-"))
    assert out.returncode == 1
    line = lines(out)["LLM test-model"]
    assert line.startswith("✗") and "401" in line and "LLM_API_KEY" in line.split("→")[1]
    assert_no_secret(world, out)


def test_a_clone_without_the_subscribed_branch_says_how_to_fetch_it(world):
    world.subscribe("slack", "C1", branch="feature/x")
    out, _ = doctor(world)
    assert out.returncode == 1
    line = lines(out)[f"clone {REPO}"]
    assert line.startswith("✗") and "no branch feature/x" in line and "fetch origin feature/x" in line


def test_an_unwritable_database_fails_with_the_fix(world):
    blocker = world.tmp / "not-a-directory"
    blocker.write_text("a file where the database's directory should be\n")
    out, _ = doctor(world, DATABASE_PATH=str(blocker / "radar.db"))
    assert out.returncode == 1
    line = lines(out)[f"database {blocker / 'radar.db'}"]
    assert line.startswith("✗") and "cannot write" in line and "DATABASE_PATH" in line


def test_http_modes_a_chat_without_the_bot_a_bad_webhook_and_no_github_for_clones_only(world):
    world.feishu.set_chat("oc_1", "bot_removed")
    out, _ = doctor(world, FEISHU_EVENT_MODE="http", FEISHU_VERIFICATION_TOKEN="vtoken", SLACK_APP_TOKEN="",
                    FEISHU_ENCRYPT_KEY=secret("ek"),
                    SLACK_SIGNING_SECRET=secret("ss"), FEISHU_WEBHOOK_URL="https://example.com/hooks/abcdefgh",
                    GITHUB_TOKEN="")
    assert out.returncode == 1
    found = lines(out)
    assert found["Slack events"].startswith("✓ Slack events: HTTP at /slack/events")
    assert found["Feishu app"].startswith("✓")
    assert found["Feishu chat oc_1"].startswith("✗") and "add the bot to the group" in found["Feishu chat oc_1"]
    assert found["Feishu events"].startswith("✓ Feishu events: http at /feishu/events")
    assert found["Feishu webhook"].startswith("✗") and "Custom Bot" in found["Feishu webhook"]
    assert "GitHub" not in found  # no token, and every repository is read from its clone
    assert world.github.calls("/rate_limit") == []


def test_another_lark_oapi_than_the_pinned_one_is_named_with_the_fix(world):
    out, _ = doctor(world, PYTHONPATH=shadowed(world.tmp, "1.8.0"))
    assert out.returncode == 1
    line = lines(out)["lark-oapi"]
    assert line.startswith(f"✗ lark-oapi: lark-oapi 1.8.0 is installed, but the Feishu events were tested with "
                           f"{PINNED} → pip install lark-oapi=={PINNED} (as requirements.txt pins it), or re-check "), line
    assert out.stdout.strip().endswith("1 of 13 checks failed")  # the lark-oapi line alone


def test_endpoints_that_hang_time_out_together_and_doctor_still_finishes_in_seconds(world):
    _, healthy = doctor(world)
    world.llm.hold()  # requests are received and never answered
    world.slack.hold()  # four Slack checks: one after another they would take 20 s
    try:
        out, seconds = doctor(world)
    finally:
        world.llm.release()
        world.slack.release()
    assert out.returncode == 1
    found = lines(out)
    for name in ("LLM test-model", "Slack token", "Slack channel C1", "Slack Socket Mode"):
        assert re.match(rf"✗ {name}: .*(timed out|no answer within 5 s)", found.get(name, "")), out.stdout
    assert found["GitHub"].startswith("✓") and found["Feishu app"].startswith("✓")
    assert seconds - healthy < 9, (seconds, healthy)  # one 5 s timeout for all of them, whatever Python's start-up


def test_the_manifest_scopes_are_read_from_manifest_yml():
    assert manifest_scopes((ROOT / "manifest.yml").read_text(encoding="utf-8")) == frozenset(MANIFEST_SCOPES)


def test_render_puts_the_fix_on_failing_lines_only():
    shown = render([Check("GitHub", True, "token valid", "unused"), Check("LLM m", False, "401", "set LLM_API_KEY")])
    assert shown == ["✓ GitHub: token valid", "✗ LLM m: 401 → set LLM_API_KEY", "1 of 2 checks failed"]


def test_feishu_http_mode_without_an_encrypt_key_is_a_configuration_error_that_names_it(world):
    out, _ = doctor(world, FEISHU_EVENT_MODE="http", FEISHU_VERIFICATION_TOKEN="vtoken", FEISHU_ENCRYPT_KEY="")
    assert out.returncode == 2
    assert "FEISHU_ENCRYPT_KEY" in out.stderr and "Traceback" not in out.stderr
