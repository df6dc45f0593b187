"""A real SMTP server for tests (aiosmtpd, on a free port): what it accepted,
in order, and a switch that makes it refuse the next few emails."""

import asyncio
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from tests.servers import free_port

LINK = re.compile(r"^(https?://\S+)\r?$", re.MULTILINE)


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage
    received_at: float

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the email has no plain-text part"
        return part.get_content()

    @property
    def link(self) -> str:
        links = LINK.findall(self.text)
        assert len(links) == 1, f"expected one link in:\n{self.text}"
        return links[0]

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.link).query)["token"][0]


@dataclass
class _Handler:
    accepted: "queue.Queue[Mail]" = field(default_factory=queue.Queue)
    to_refuse: int = 0
    refused: int = 0
    # hold(): the next email waits, unanswered, until release().
    holding: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        if self.holding:
            self.holding = False
            self.held.set()
            await asyncio.to_thread(self.released.wait)
            return "451 4.3.0 Not now, try again later"
        if self.to_refuse > 0:
            self.to_refuse -= 1
            self.refused += 1
            return "451 4.3.0 Not now, try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.accepted.put(Mail(list(envelope.rcpt_tos), message, time.monotonic()))
        return "250 Message accepted for delivery"


class Mailbox:
    """An SMTP server on 127.0.0.1; `url` is its SMTP_URL."""

    def __init__(self):
        self.handler = _Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def next(self, timeout: float = 15) -> Mail:
        """The next email the server accepts (waiting for it up to `timeout` s)."""
        try:
            return self.handler.accepted.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no email arrived in {timeout} s") from None

    def assert_empty(self) -> None:
        assert self.handler.accepted.empty(), self.handler.accepted.get().subject

    def refuse(self, times: int) -> None:
        """Refuse the next `times` emails (451: try again later), then accept again."""
        self.handler.to_refuse = times

    def hold(self) -> None:
        """Keep the next email's sender waiting, unanswered, until `release()`;
        then refuse it (it was never accepted)."""
        self.handler.held.clear()
        self.handler.released.clear()
        self.handler.holding = True

    def wait_until_held(self, timeout: float = 30) -> None:
        assert self.handler.held.wait(timeout), f"no email came in {timeout} s"

    def release(self) -> None:
        self.handler.released.set()

    @property
    def refused(self) -> int:
        return self.handler.refused

    def close(self) -> None:
        self.release()
        self.controller.stop()
