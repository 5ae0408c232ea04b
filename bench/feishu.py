"""The Feishu bot: time from a `/digest <stored date>` event arriving at /feishu/events to the answer card reaching
the (local) Feishu Open API, and the cards of a 300-commit day with their sizes. Prints figures from one run.

    python bench/feishu.py [--events 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from handlers.config import Settings  # noqa: E402
from digest.render import feishu as render  # noqa: E402
from handlers.app import Bot  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.bigday import big_day  # noqa: E402
from tests.conftest import NOW, clone_ref, git_service, sample_history  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.feishu import FeishuServer, encrypt, message_event, signed_headers  # noqa: E402

DAY = date(2026, 1, 11)
REPO = "sgl-project/sglang"
EK, VT = "bench-encrypt-key", "bench-token"


def latency(events: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp, FeishuServer(app_id=f"cli_{uuid.uuid4().hex[:8]}", app_secret="s",
                                                            chats=["oc_1"]) as feishu:
        repo = GitRepo(Path(tmp) / "upstream")
        sample_history(repo)
        db = open_db(Path(tmp) / "radar.db")
        service = git_service(db)
        service.build_digest(clone_ref(repo, REPO), DAY, "UTC", "en")  # stored: the command answers from storage
        settings = Settings(database_path=str(Path(tmp) / "radar.db"), port=0, git_clones={REPO: repo.path},
                            allowed_repos=(REPO,),
                            feishu_app_id=feishu.app_id, feishu_app_secret="s", feishu_base_url=feishu.url,
                            feishu_event_mode="http", feishu_encrypt_key=EK, feishu_verification_token=VT)
        bot = Bot(settings, service, clock=lambda: NOW)
        server = bot.start()
        url = f"http://127.0.0.1:{server.port}/feishu/events"
        took = []
        try:
            for i in range(events + 3):
                event = feishu.incoming(message_event(f"@_user_1 /digest 2026-01-11 {REPO}", "oc_1", "ou_bench",
                                                      token=VT, app_id=feishu.app_id))
                asked = event["event"]["message"]["message_id"]
                raw = json.dumps(encrypt(event, EK)).encode()
                headers = signed_headers(raw, EK, str(int(time.time())), "n")
                start = time.time()
                requests.post(url, data=raw, headers=headers, timeout=5)
                sent = feishu.wait_for(lambda: [r for r in feishu.calls(f"/{asked}/reply", "POST")], timeout=10)[0]
                if i >= 3:  # the first ones warm up the token and the connections
                    took.append(sent.time - start)
        finally:
            bot.stop()
        return took


def cards(lang: str) -> None:
    digest = big_day(300, lang)
    for app, limit, name in ((True, 30 * 1024, "app"), (False, 20 * 1024, "webhook")):
        (top, _), details = render.digest_cards(digest, app=app)
        sizes = [render.body_bytes(c, webhook=not app) for c in [top] + [c for c, _ in details]]
        print(f"300-commit day ({lang}), {name:7}: {len(sizes)} cards, {sum(sizes) // 1024} KiB in all, "
              f"largest {max(sizes)} bytes (limit {limit}), every card under its limit: {max(sizes) <= limit}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args()
    took = sorted(latency(args.events))
    p50, p90 = statistics.median(took), took[int(len(took) * 0.9) - 1]
    print(f"/digest <stored date>: event -> answer card at the Open API: p50 {p50 * 1000:.0f} ms, "
          f"p90 {p90 * 1000:.0f} ms, max {took[-1] * 1000:.0f} ms ({len(took)} events; target p50 < 150 ms)")
    for lang in ("en", "zh"):
        cards(lang)


if __name__ == "__main__":
    main()
