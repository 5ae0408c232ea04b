"""The Feishu long connection: lark.ws.Client in its own thread with its own event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from handlers.feishu import lark_internals

if TYPE_CHECKING:
    import lark_oapi as lark

log = logging.getLogger(__name__)


class LongConnection:
    """lark.ws.Client in its own thread with its own event loop (lark-oapi takes a loop at import: #96, #119).
    Card clicks arrive as frames of type "card", which lark-oapi 1.7.5 drops unanswered (#126): this client
    hands them to the same dispatcher and answers them like events."""

    def __init__(self, app_id: str, app_secret: str, base_url: str, handler: lark.EventDispatcherHandler) -> None:
        import lark_oapi as lark

        self.client = lark_internals.card_aware_client()(app_id, app_secret, event_handler=handler, domain=base_url,
                                                         log_level=lark.LogLevel.ERROR)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self.failed: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        lark_internals.use_loop(self.loop)
        try:
            self.client.start()
        except RuntimeError:
            pass  # "Event loop stopped before Future completed": close() stopped it
        except Exception as err:  # wrong app secret and the like: visible in /healthz and the log
            self.failed = err
            log.error("Feishu long connection failed: %s", type(err).__name__)
        finally:
            self.loop.run_until_complete(self._cleanup())
            self.loop.close()

    async def _cleanup(self) -> None:
        me = asyncio.current_task()
        for _ in range(3):  # the SDK has no stop(): cancel its tasks (its ping loop sleeps in a finally)
            tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            if not tasks:
                break
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=0.2)
            await lark_internals.close_socket(self.client)

    def start(self) -> "LongConnection":
        self.thread.start()
        return self

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
