"""lark-oapi's private parts, which the Feishu events use, are checked at start: the tested version runs quietly,
another version runs with one line that says what to do, one that lacks a part is refused with that line."""

from __future__ import annotations

import os
import re
import types
from pathlib import Path

from handlers.feishu.lark_internals import TESTED, Verdict, missing_parts
from tests.conftest import ROOT, sample_history
from tests.gitrepo import GitRepo
from tests.servers.feishu import FeishuServer
from tests.test_feishu_http import bot_env, start, stop

PINNED = re.findall(r"^lark-oapi==(\S+)", (ROOT / "requirements.txt").read_text("utf-8"), re.M)[0]


def shadowed(tmp: Path, version: str) -> str:
    """A PYTHONPATH under which lark-oapi's metadata says `version` (the real package still loads): what an
    upgraded install reports, without installing another lark-oapi."""
    meta = tmp / "shadow" / f"lark_oapi-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lark-oapi\nVersion: {version}\n", "utf-8")
    return os.pathsep.join(filter(None, (str(tmp / "shadow"), os.environ.get("PYTHONPATH"))))


def test_the_tested_version_is_the_one_requirements_txt_pins():
    assert TESTED == PINNED  # bumping the pin means re-checking handlers/feishu/lark_internals.py first


def test_the_pinned_version_passes_and_another_says_what_to_do_in_one_line():
    assert Verdict(PINNED).tested and Verdict(PINNED).line is None
    other = Verdict("1.7.4")
    assert not other.tested and not other.refuses
    line = other.line or ""
    assert line.startswith(f"lark-oapi 1.7.4 is installed, but the Feishu events were tested with {PINNED}: "
                           f"pip install lark-oapi=={PINNED} (as requirements.txt pins it), or re-check ")
    assert "ws.Client._combine" in line and "handlers/feishu/lark_internals.py" in line and "\n" not in line


def test_a_lark_oapi_that_lacks_a_part_or_is_missing_is_refused():
    lacking = Verdict("2.0.0", ("ws.Client._combine",))
    assert lacking.refuses and lacking.line == (f"lark-oapi 2.0.0 lacks ws.Client._combine, which the Feishu events "
                                                f"use: pip install lark-oapi=={PINNED} (as requirements.txt pins it)")
    assert Verdict(None).refuses and (Verdict(None).line or "").startswith("lark-oapi is not installed: pip install")


def test_every_private_part_is_found_in_the_installed_lark_oapi():
    import lark_oapi as lark
    import lark_oapi.ws.client as ws_client

    assert missing_parts(lark.EventDispatcherHandler, ws_client) == ()
    assert missing_parts(lark.EventDispatcherHandler) == ()  # the HTTP path alone


def test_a_part_gone_from_lark_oapi_is_named():
    """lark-oapi's own Client and module, less what a release could rename."""
    import lark_oapi.ws.client as ws_client

    client = type("Client", (), {k: v for k, v in vars(ws_client.Client).items() if k != "_combine"})
    module = types.ModuleType("lark_oapi.ws.client")
    module.Client = client  # type: ignore[attr-defined]  # and no module-level `loop`
    handler = type("EventDispatcherHandler", (), {})
    assert missing_parts(handler, module) == ("EventDispatcherHandler._do_without_validation", "ws.client.loop",
                                              "ws.Client._combine")


def test_bot_run_with_another_lark_oapi_warns_once_and_still_connects(tmp_path):
    """A real `bot.py run` in ws mode whose lark-oapi metadata says 1.7.4: one line says what to do, the long
    connection opens all the same."""
    repo = GitRepo(tmp_path / "upstream")
    sample_history(repo)
    with FeishuServer(app_id="cli_other", app_secret="app-secret", chats=["oc_1"]) as feishu:
        running = start(bot_env(tmp_path, feishu, repo, FEISHU_EVENT_MODE="ws",
                                PYTHONPATH=shadowed(tmp_path, "1.7.4")), tmp_path / "bot.log")
        try:
            feishu.ws.wait_connected(timeout=10)
        finally:
            stop(running)
    said = running.log_lines("lark-oapi")
    assert len(said) == 1, said
    assert said[0].startswith("WARNING handlers.feishu.lark_internals: lark-oapi 1.7.4 is installed, but the Feishu "
                              f"events were tested with {PINNED}: pip install lark-oapi=={PINNED}")
