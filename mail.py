"""Account emails: what each one says, and how it leaves (SMTP, or the log).

Each email is built by a function named for it (`verification`,
`password_reset`, `password_changed`) as a plain-text body with its link on
a line of its own (`<APP_URL>/<path>?token=<token>`), and an HTML part
beside it. `send` hands it to the server of `SMTP_URL`:

- `smtp://[user:password@]host[:port]`: plain SMTP (port 25 by default);
- `smtp+starttls://…`: upgraded with STARTTLS before logging in (587);
- `smtps://…`: TLS from the start (465).

Without `SMTP_URL` the email is written to the log (the `stores.mail`
logger, at warning level, so `make run` shows it in the terminal) and
counts as sent.

Sending is the background jobs' work (jobs.py); `DELIVERY_ERRORS` are the
failures worth another try.
"""

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from urllib.parse import unquote, urlencode, urlsplit

from flask import current_app
from flask.logging import default_handler

logger = logging.getLogger("stores.mail")
if default_handler not in logger.handlers:
    logger.addHandler(default_handler)
logger.setLevel(logging.INFO)
# Written once, by this handler: a worker's root logger has Celery's own.
logger.propagate = False

# A refused or failed delivery, or a server that cannot be reached.
DELIVERY_ERRORS = (smtplib.SMTPException, OSError)

_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class Email:
    """One email to one address. `link` (if any) is also in `text`."""

    to: str
    subject: str
    text: str
    link: str | None = None


def masked(address: str) -> str:
    """`address` as a log may show it: `j***@example.com`."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def link(path: str, token: str) -> str:
    base = current_app.config["APP_URL"].rstrip("/")
    return f"{base}/{path}?{urlencode({'token': token})}"


def verification(address: str, token: str) -> Email:
    url = link("email/verify", token)
    return Email(
        to=address,
        subject="Confirm your email address",
        text=(
            "Welcome to the Stores API.\n\n"
            "To confirm that this address is yours, open this link "
            "(or send its token to POST /email/verify) within 24 hours:\n\n"
            f"{url}\n\n"
            "If you did not ask for this, ignore this email.\n"
        ),
        link=url,
    )


def password_reset(address: str, token: str) -> Email:
    url = link("password/reset", token)
    return Email(
        to=address,
        subject="Reset your password",
        text=(
            "Someone asked to reset the password of your Stores API account.\n\n"
            "To choose a new password, open this link (or send its token with "
            "the new password to POST /password/reset) within 30 minutes:\n\n"
            f"{url}\n\n"
            "If it was not you, ignore this email: your password stays as it is.\n"
        ),
        link=url,
    )


def password_changed(address: str) -> Email:
    return Email(
        to=address,
        subject="Your password was changed",
        text=(
            "The password of your Stores API account was just changed, and "
            "every device was logged out.\n\n"
            "If it was not you, reset your password now with POST "
            "/password/forgot, and tell us.\n"
        ),
    )


def message(email: Email) -> EmailMessage:
    """The email as MIME: the text, and the same as HTML with its link clickable."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Message-ID"] = make_msgid(domain="stores-api")
    msg.set_content(email.text)
    html = "".join(
        f'<p><a href="{escape(part)}">{escape(part)}</a></p>'
        if part == email.link
        else f"<p>{escape(part)}</p>"
        for part in email.text.strip().split("\n\n")
    )
    msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    return msg


def send(email: Email) -> None:
    """Deliver `email`; raises one of DELIVERY_ERRORS when it was not accepted."""
    url = current_app.config["SMTP_URL"]
    if not url:
        logger.warning(
            "Email not sent (SMTP_URL is unset). To: %s\nSubject: %s\n\n%s",
            email.to,
            email.subject,
            email.text,
        )
        return
    parts = urlsplit(url)
    if parts.scheme not in _PORTS:
        raise ValueError(f"SMTP_URL must start with one of {sorted(_PORTS)}")
    host, port = parts.hostname or "localhost", parts.port or _PORTS[parts.scheme]
    timeout = current_app.config["SMTP_TIMEOUT"]
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message(email))
