"""Feishu (Lark) in and out: the Open API through lark-oapi (our own tenant token, retries that know Feishu's
codes), a chat and the custom-bot webhook as Destinations, events over the long connection or the HTTP callback,
answers as cards that are PATCHed in place. No decisions here: parsing, checks and posting rules live in
handlers/chat.py and handlers/delivery.py.

One module a job: openapi (client, pacing), destinations (app chat, webhook), replies (answer cards), events
(messages and clicks to ChatOps), callbacks (the HTTP path), connection (the long connection), lark_internals
(every private part of lark-oapi, and its version check), wiring (Feishu, what Bot uses).
"""

from handlers.feishu.callbacks import Callback, Refused, http_route, open_callback
from handlers.feishu.connection import LongConnection
from handlers.feishu.destinations import AppDestination, WebhookDestination, webhook_sign
from handlers.feishu.events import Events, command_of, strip_mentions
from handlers.feishu.openapi import FeishuError, Gate, OpenApi
from handlers.feishu.replies import CardReply
from handlers.feishu.wiring import Feishu

__all__ = ["AppDestination", "Callback", "CardReply", "Events", "Feishu", "FeishuError", "Gate", "LongConnection",
           "OpenApi", "Refused", "WebhookDestination", "command_of", "http_route", "open_callback", "strip_mentions",
           "webhook_sign"]
