"""What the running bot imports is pinned in requirements.txt, not only in requirements-dev.txt: an install from
requirements.txt alone must run every configured part (the Feishu long connection needs websockets)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import ROOT

RUNTIME = ("bot", "handlers.app", "handlers.slack", "handlers.feishu", "lark_oapi.ws.client",
           "slack_bolt.adapter.socket_mode")  # lark_oapi.ws.client and Socket Mode are imported when they start


def pinned(name: str) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / name).read_text(encoding="utf-8"), re.M)
    return {_norm(dist): version for dist, version in found}


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def imported_distributions() -> set[str]:
    """The distributions of every module loaded once the bot's runtime modules are imported, in a fresh process."""
    code = ("import importlib, importlib.metadata as m, json, sys\n"
            f"for name in {RUNTIME!r}: importlib.import_module(name)\n"
            "owners = m.packages_distributions()\n"
            "print(json.dumps(sorted({d for mod in list(sys.modules) for d in owners.get(mod.split('.')[0], [])})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return {_norm(d) for d in json.loads(out.stdout)}


def test_every_package_the_running_bot_imports_is_pinned_for_run_time():
    runtime, dev = pinned("requirements.txt"), pinned("requirements-dev.txt")
    dev_only = set(dev) - set(runtime)
    used = imported_distributions()
    assert "websockets" in used  # the long connection's client
    assert not dev_only & used, f"imported at run time but pinned only in requirements-dev.txt: {dev_only & used}"
