"""E-mail through SMTP: one small interface, chosen in the factory from the configuration.

Every message is French, in plain text and HTML (two templates ``mail/<name>.txt`` and
``mail/<name>.html``), and carries only what it needs: a link, never a password.

A web request never talks to the SMTP server: :func:`send_later` renders the message in the
request (its links and wording as the user saw them) and puts it in the job queue; the
worker sends it (:func:`deliver`, in the quick queue's process, one SMTP connection per
burst: :class:`KeptConnection`), retrying after a delay when the server is down. The
job's id is a digest of the event's ``key`` and the recipient, and the worker marks a
message sent in Redis before sending: asking twice, a retried job or a job requeued after
its worker died never sends it twice (at most once; a worker killed in the middle of the
SMTP exchange loses that message rather than risk a duplicate). The command line and the
worker's own work (reminders of the periodic tick) send directly (:func:`send_template`).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import asdict, dataclass
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

    def connect(self) -> smtplib.SMTP:
        """A connection to the server, encrypted and signed in as configured."""
        if self.tls == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, mail: Mail) -> None:
        """Send on a connection of its own."""
        message = self.message(mail)
        try:
            with self.connect() as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise _not_sent(exc) from exc


def _not_sent(exc: Exception) -> ServiceUnavailable:
    # The address is personal data: only the failure's kind is logged.
    log.error("envoi de courriel impossible : %s", type(exc).__name__)
    return ServiceUnavailable(
        "Le courriel n'a pas pu être envoyé ; réessayez dans quelques instants.")


class KeptConnection:
    """Sends through one SMTP connection kept open across messages (the quick worker's
    burst): a connection and its greeting cost more than a message. The worker closes it
    when its queue is empty (:meth:`close`, a ``jobs.on_idle`` hook), so it is never left
    idle for the server to drop; a new one is opened after ``MAX_MESSAGES``. When a kept
    connection fails (dropped by the server), the message goes once more on a new
    connection: the same as the job's retry, without its delay."""

    MAX_MESSAGES = 100

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.smtp: smtplib.SMTP | None = None
        self.sent = 0
        self.connections = 0

    def send(self, mail: Mail) -> None:
        message = self.mailer.message(mail)
        reused = self.smtp is not None
        try:
            try:
                self._connection().send_message(message)
            except (ConnectionError, smtplib.SMTPServerDisconnected):
                self.close()
                if not reused:
                    raise
                self._connection().send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _not_sent(exc) from exc
        self.sent += 1
        if self.sent >= self.MAX_MESSAGES:
            self.close()

    def _connection(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = self.mailer.connect()
            self.sent = 0
            self.connections += 1
        return self.smtp

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


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


MAIL_JOB = "mail.send"
# Delays before each new attempt when the SMTP server refuses or is unreachable.
RETRY_INTERVALS_S = (30, 300, 1800)


def render(to: str, subject: str, name: str, **context) -> Mail:
    """``mail/<name>.txt`` and ``.html`` rendered with ``context``, for ``to``."""
    return Mail(to=to, subject=subject,
                text=render_template(f"mail/{name}.txt", subject=subject, **context),
                html=render_template(f"mail/{name}.html", subject=subject, **context))


def send_template(to: str, subject: str, name: str, **context) -> None:
    """Render ``mail/<name>`` and send it now (command line, worker)."""
    current_app.extensions["mailer"].send(render(to, subject, name, **context))


def send_later(to: str, subject: str, name: str, *, key: str, **context) -> str:
    """Render ``mail/<name>`` now and let the worker send it; return the job's id.
    ``key`` names the event (a link's secret, a referral and its new state): the same key
    and recipient make one job and one message. ServiceUnavailable (French) when the
    queue is unreachable."""
    from . import jobs

    mail = render(to, subject, name, **context)
    return jobs.enqueue(MAIL_JOB, asdict(mail), key={"modele": name, "evenement": key,
                                                      "a": to}).id


def deliver(params: dict) -> dict:
    """The worker's side of :func:`send_later`: send once (see the module's docstring)."""
    from rq import get_current_job

    from . import jobs

    config = current_app.config
    job = get_current_job()
    marker = f"{config['PASSERELLE_JOBS_NAMESPACE']}:courriel-envoye:" \
             f"{job.id if job is not None else jobs.job_id(MAIL_JOB, params)}"
    conn = jobs.connection()
    if not conn.set(marker, "1", nx=True, ex=config["PASSERELLE_MAIL_ONCE_S"]):
        return {"envoye": False, "motif": "déjà envoyé"}
    try:
        _worker_mailer(current_app).send(Mail(**{k: params[k] for k in
                                                 ("to", "subject", "text", "html")}))
    except BaseException:
        conn.delete(marker)  # not sent: the retry may send it
        raise
    return {"envoye": True}


def _worker_mailer(app: Flask) -> Mailer:
    """The application's mailer; in the quick worker, its connection kept for the burst."""
    from . import jobs

    mailer = app.extensions["mailer"]
    if not jobs.in_quick_worker() or not isinstance(mailer, SmtpMailer):
        return mailer
    kept = app.extensions.get("mailer_kept")
    if kept is None or kept.mailer is not mailer:
        if kept is not None:
            kept.close()
        kept = app.extensions["mailer_kept"] = KeptConnection(mailer)
    return kept


def close_kept_connection(app: Flask) -> None:
    """The quick worker's queue is empty: close the SMTP connection kept for the burst."""
    kept = app.extensions.get("mailer_kept")
    if kept is not None:
        kept.close()


def init_app(app: Flask) -> None:
    from . import jobs

    app.extensions.setdefault("mailer", mailer_from_config(app.config))
    jobs.register(MAIL_JOB, deliver, "Envoi d'un courriel", database=False,
                  retry_intervals=RETRY_INTERVALS_S, quick=True)
    jobs.on_idle(close_kept_connection)
