"""E-mail through SMTP: one small interface, chosen in the factory from the configuration.

Every message is French, in plain text and HTML (two templates ``mail/<name>.txt`` and
``mail/<name>.html``), and carries only what it needs: a link, never a password.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from flask import Flask, current_app, render_template

from .errors import ConfigurationError, ServiceUnavailable

log = logging.getLogger(__name__)

TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    tls: str
    sender: str
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2].strip(">")
                                           or None)
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        message["Content-Language"] = "fr"  # after the body: set_content clears Content-*
        return message

    def send(self, mail: Mail) -> None:
        message = self.message(mail)
        try:
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # The address is personal data: only the failure's kind is logged.
            log.error("envoi de courriel impossible : %s", type(exc).__name__)
            raise ServiceUnavailable(
                "Le courriel n'a pas pu être envoyé ; réessayez dans quelques instants.") from exc


def mailer_from_config(config) -> SmtpMailer:
    if config["PASSERELLE_SMTP_TLS"] not in TLS_MODES:
        raise ConfigurationError(
            "PASSERELLE_SMTP_TLS doit valoir « none », « starttls » ou « ssl », pas "
            f"{config['PASSERELLE_SMTP_TLS']!r}.")
    return SmtpMailer(host=config["PASSERELLE_SMTP_HOST"], port=config["PASSERELLE_SMTP_PORT"],
                      tls=config["PASSERELLE_SMTP_TLS"], sender=config["PASSERELLE_MAIL_SENDER"],
                      username=config["PASSERELLE_SMTP_USER"],
                      password=config["PASSERELLE_SMTP_PASSWORD"],
                      timeout_s=config["PASSERELLE_SMTP_TIMEOUT_S"])


def send_template(to: str, subject: str, name: str, **context) -> None:
    """Render ``mail/<name>.txt`` and ``.html`` with ``context`` and send them to ``to``."""
    mail = Mail(to=to, subject=subject,
                text=render_template(f"mail/{name}.txt", subject=subject, **context),
                html=render_template(f"mail/{name}.html", subject=subject, **context))
    current_app.extensions["mailer"].send(mail)


def init_app(app: Flask) -> None:
    app.extensions.setdefault("mailer", mailer_from_config(app.config))
