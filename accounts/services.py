"""People, roles, sign-in, sessions, one-time links, invitations, claims and API tokens.

Plain arguments in (``session`` and ``now`` always passed), plain results out; errors are
``core.errors`` classes with French messages.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound, PasserelleError
from directory.models import Acceptance, Programme, Venue
from directory.programmes import parse_perimeter_code

from . import credentials, journal
from .journal import Actor
from .models import (
    ROLE_LABELS_FR,
    ROLES,
    ApiToken,
    LoginAttempt,
    LoginSession,
    OneTimeToken,
    Person,
    RoleGrant,
    VenueClaim,
)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
API_TOKEN_PREFIX = "psl_"


class TooManyAttempts(PasserelleError):
    status = 429
    message = "Trop de tentatives de connexion ; réessayez plus tard."

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = max(1, int(retry_after_s))
        minutes = (self.retry_after_s + 59) // 60
        wait = (f"{self.retry_after_s} secondes" if self.retry_after_s < 120
                else f"{minutes} minutes")
        super().__init__(f"Trop de tentatives de connexion ; réessayez dans {wait}.")


class Unauthorised(PasserelleError):
    status = 401


# --------------------------------------------------------------------------- people, roles


def normalise_email(email: str | None) -> str:
    value = (email or "").strip().lower()
    if not EMAIL.match(value) or len(value) > 254:
        raise InvalidInput(errors={"email": [
            "Adresse électronique invalide : attendu par exemple prenom.nom@exemple.fr."]})
    return value


def person_by_email(session: Session, email: str) -> Person | None:
    return session.scalar(select(Person).where(Person.email == email))


def check_scope(session: Session, role: str, scope: str) -> str:
    """The scope as stored, or InvalidInput naming what is wrong."""
    if role not in ROLES:
        raise InvalidInput(errors={"role": [
            f"Rôle « {role} » inconnu : " + ", ".join(ROLES) + "."]})
    kind = ROLES[role]
    scope = (scope or "").strip()
    if kind is None:
        if scope:
            raise InvalidInput(errors={"role": ["Le rôle administrateur n'a pas de portée."]})
        return ""
    if not scope:
        raise InvalidInput(errors={"role": [
            f"Le rôle {ROLE_LABELS_FR[role]} demande une portée ({kind})."]})
    if kind == "programme":
        programme = session.scalar(select(Programme).where(
            (Programme.code == scope) | (Programme.id == _int_or_zero(scope))))
        if programme is None:
            raise InvalidInput(errors={"role": [f"Programme « {scope} » introuvable."]})
        return str(programme.id)
    if kind == "venue":
        if session.get(Venue, _int_or_zero(scope)) is None:
            raise InvalidInput(errors={"role": [f"Lieu « {scope} » introuvable."]})
        return str(int(scope))
    if kind == "territory":
        try:
            parse_perimeter_code(scope)
        except PasserelleError as exc:
            raise InvalidInput(errors={"role": [exc.message]}) from None
        return scope
    return scope[:200]  # a structure's SIRET or name


def _int_or_zero(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 19 else 0


def grant(session: Session, person: Person, role: str, scope: str = "") -> RoleGrant:
    scope = check_scope(session, role, scope)
    existing = session.scalar(select(RoleGrant).where(
        RoleGrant.person_id == person.id, RoleGrant.role == role, RoleGrant.scope == scope))
    if existing:
        return existing
    row = RoleGrant(person_id=person.id, role=role, scope=scope)
    session.add(row)
    session.flush()
    return row


def grants_of(session: Session, person_id: int) -> frozenset[tuple[str, str]]:
    return frozenset((role, scope) for role, scope in session.execute(
        select(RoleGrant.role, RoleGrant.scope).where(RoleGrant.person_id == person_id)))


def parse_role(text: str) -> tuple[str, str]:
    """'venue_manager:12' -> ('venue_manager', '12'); 'administrator' -> (…, '')."""
    role, _, scope = text.partition(":")
    return role.strip(), scope.strip()


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionLimits:
    idle_s: int
    max_s: int

    @classmethod
    def from_config(cls, config) -> SessionLimits:
        return cls(config["PASSERELLE_SESSION_IDLE_S"], config["PASSERELLE_SESSION_MAX_S"])


def open_session(session: Session, person: Person, method: str, now: dt.datetime,
                 previous_secret: str | None = None) -> str:
    """A new session (a new secret: rotation on every sign-in); the browser's previous
    session, if any, is revoked. Returns the cookie's secret."""
    if previous_secret:
        revoke_session(session, previous_secret, now)
    secret = credentials.new_secret()
    session.add(LoginSession(token_hash=credentials.digest(secret), person_id=person.id,
                             method=method, created_at=now, last_seen_at=now))
    session.flush()
    return secret


def resolve_session(session: Session, secret: str | None, now: dt.datetime,
                    limits: SessionLimits) -> Person | None:
    if not secret or len(secret) > 100:
        return None
    row = session.scalar(select(LoginSession).where(
        LoginSession.token_hash == credentials.digest(secret)))
    if row is None or row.revoked_at is not None:
        return None
    if (now - row.last_seen_at).total_seconds() > limits.idle_s or (
            now - row.created_at).total_seconds() > limits.max_s:
        row.revoked_at = now
        session.flush()
        return None
    person = session.get(Person, row.person_id)
    if person is None or not person.active:
        return None
    # One write a minute at most, not one per request.
    if (now - row.last_seen_at).total_seconds() >= 60:
        row.last_seen_at = now
        session.flush()
    return person


def revoke_session(session: Session, secret: str, now: dt.datetime) -> None:
    session.execute(update(LoginSession)
                    .where(LoginSession.token_hash == credentials.digest(secret),
                           LoginSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def revoke_all_sessions(session: Session, person_id: int, now: dt.datetime) -> int:
    return session.execute(update(LoginSession)
                           .where(LoginSession.person_id == person_id,
                                  LoginSession.revoked_at.is_(None))
                           .values(revoked_at=now)).rowcount


# --------------------------------------------------------------------------- throttling


@dataclass(frozen=True)
class LoginLimits:
    """Failures allowed per account and attempts per address, per minute; after the third
    failure in a row an account also waits 2^(n-3) s (1, 2, 4 … 300 s) between tries."""

    account_per_min: int
    address_per_min: int
    max_delay_s: int = 300

    @classmethod
    def from_config(cls, config) -> LoginLimits:
        return cls(config["PASSERELLE_LOGIN_ACCOUNT_PER_MIN"],
                   config["PASSERELLE_LOGIN_ADDRESS_PER_MIN"])


def _account_key(email: str) -> str:
    return credentials.digest("login:" + email.strip().lower())


def check_throttle(session: Session, email: str, address: str, now: dt.datetime,
                   limits: LoginLimits) -> None:
    """Raise TooManyAttempts (with the wait) when this account or address must wait."""
    minute_ago = now - dt.timedelta(minutes=1)
    from_address = session.execute(
        select(func.count(), func.min(LoginAttempt.at))
        .where(LoginAttempt.address == address, LoginAttempt.at > minute_ago)).one()
    if from_address[0] >= limits.address_per_min:
        raise TooManyAttempts(60 - (now - from_address[1]).total_seconds())
    key = _account_key(email)
    recent = list(session.execute(
        select(LoginAttempt.at, LoginAttempt.success)
        .where(LoginAttempt.account_key == key,
               LoginAttempt.at > now - dt.timedelta(seconds=limits.max_delay_s + 60))
        .order_by(LoginAttempt.at.desc()).limit(64)))
    failures_last_minute = [at for at, ok in recent if not ok and at > minute_ago]
    if len(failures_last_minute) >= limits.account_per_min:
        raise TooManyAttempts(60 - (now - min(failures_last_minute)).total_seconds())
    streak = 0
    for _at, ok in recent:
        if ok:
            break
        streak += 1
    if streak >= 3:
        delay = min(2 ** (streak - 3), limits.max_delay_s)
        waited = (now - recent[0][0]).total_seconds()
        if waited < delay:
            raise TooManyAttempts(delay - waited)


def record_attempt(session: Session, email: str, address: str, success: bool,
                   now: dt.datetime) -> None:
    session.add(LoginAttempt(at=now, account_key=_account_key(email), address=address,
                             success=success))
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - dt.timedelta(days=1)))
    session.flush()


WRONG_CREDENTIALS = "Adresse électronique ou mot de passe incorrect."


def sign_in_with_password(session: Session, email: str, password: str, address: str,
                          now: dt.datetime, limits: LoginLimits) -> Person:
    """The person, or InvalidInput with one message whatever was wrong (no enumeration);
    TooManyAttempts when throttled. The attempt is recorded either way."""
    key_email = (email or "").strip().lower()[:254]
    check_throttle(session, key_email, address, now, limits)
    person = person_by_email(session, key_email)
    ok = credentials.verify_password(person.password_hash if person else None, password or "")
    ok = ok and person is not None and person.active
    record_attempt(session, key_email, address, ok, now)
    if not ok:
        raise InvalidInput(WRONG_CREDENTIALS)
    if credentials.needs_rehash(person.password_hash):
        person.password_hash = credentials.hash_password(password)
    return person


def set_password(session: Session, person: Person, password: str, now: dt.datetime) -> None:
    problem = credentials.password_problem(password or "", person.email)
    if problem:
        raise InvalidInput(errors={"password": [problem]})
    person.password_hash = credentials.hash_password(password)
    person.active = True
    # A new password closes every other session.
    revoke_all_sessions(session, person.id, now)
    session.flush()


# --------------------------------------------------------------------------- one-time links


def issue_link(session: Session, person: Person, purpose: str, now: dt.datetime,
               ttl_s: int, claim_id: int | None = None) -> str:
    secret = credentials.new_secret()
    session.add(OneTimeToken(token_hash=credentials.digest(secret), purpose=purpose,
                             person_id=person.id, claim_id=claim_id, created_at=now,
                             expires_at=now + dt.timedelta(seconds=ttl_s)))
    session.flush()
    return secret


def peek_link(session: Session, secret: str, purpose: str, now: dt.datetime) -> OneTimeToken:
    """The link's row if it is still usable (not used, not expired), else InvalidInput."""
    row = session.scalar(select(OneTimeToken).where(
        OneTimeToken.token_hash == credentials.digest(secret or ""),
        OneTimeToken.purpose == purpose))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidInput("Ce lien n'est plus valable (déjà utilisé ou expiré) : "
                           "demandez-en un nouveau.")
    return row


def use_link(session: Session, secret: str, purpose: str, now: dt.datetime) -> OneTimeToken:
    """Mark the link used, atomically: of two concurrent uses, only one succeeds."""
    row = peek_link(session, secret, purpose, now)
    used = session.execute(update(OneTimeToken)
                           .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
                           .values(used_at=now)).rowcount
    if not used:
        raise InvalidInput("Ce lien vient d'être utilisé : demandez-en un nouveau.")
    session.refresh(row)
    return row


def invite(session: Session, email: str, roles: list[tuple[str, str]], now: dt.datetime,
           ttl_s: int, actor: Actor) -> tuple[Person, str]:
    """Create (or find) the person, grant the roles, and return an invitation link secret."""
    if not roles:
        raise InvalidInput(errors={"role": ["Donnez au moins un rôle."]})
    email = normalise_email(email)
    person = person_by_email(session, email)
    created = person is None
    if created:
        person = Person(email=email, active=False)
        session.add(person)
        session.flush()
    granted = [(g.role, g.scope) for g in (grant(session, person, r, s) for r, s in roles)]
    journal.append(session, actor, "invitation", now, object_type="person",
                   object_id=person.id,
                   after={"roles": [f"{r}:{s}" if s else r for r, s in granted],
                          "nouveau": created})
    return person, issue_link(session, person, "invite", now, ttl_s)


# --------------------------------------------------------------------------- claims


def request_claim(session: Session, person: Person, venue_id: int,
                  now: dt.datetime) -> VenueClaim:
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise NotFound(f"Aucun lieu ne porte l'identifiant {venue_id}.")
    if (("venue_manager", str(venue_id)) in grants_of(session, person.id)):
        raise Conflict("Vous gérez déjà ce lieu.")
    pending = session.scalar(select(VenueClaim).where(
        VenueClaim.person_id == person.id, VenueClaim.lieu_id == venue_id,
        VenueClaim.status == "pending"))
    if pending:
        return pending
    claim = VenueClaim(person_id=person.id, lieu_id=venue_id, created_at=now)
    session.add(claim)
    session.flush()
    journal.append(session, Actor("web", person.id), "revendication demandée", now,
                   object_type="venue_claim", object_id=claim.id, lieu_id=venue_id)
    return claim


def venue_public_email(venue: Venue) -> str | None:
    for email in venue.courriels or ():
        if EMAIL.match(email.strip().lower()):
            return email.strip()
    return None


def programmes_of_venue(session: Session, venue_id: int) -> list[int]:
    return list(session.scalars(select(Acceptance.programme_id)
                                .where(Acceptance.lieu_id == venue_id)))


def decide_claim(session: Session, claim: VenueClaim, confirm: bool, now: dt.datetime,
                 actor: Actor) -> VenueClaim:
    if claim.status != "pending":
        raise Conflict("Cette demande a déjà été traitée.")
    claim.status = "confirmed" if confirm else "refused"
    claim.decided_at = now
    claim.decided_by = actor.person_id
    if confirm:
        person = session.get(Person, claim.person_id)
        grant(session, person, "venue_manager", str(claim.lieu_id))
    journal.append(session, actor, "revendication " + ("confirmée" if confirm else "refusée"),
                   now, object_type="venue_claim", object_id=claim.id, lieu_id=claim.lieu_id,
                   after={"statut": claim.status, "personne": claim.person_id})
    session.flush()
    return claim


# --------------------------------------------------------------------------- API tokens

TOKEN_SCOPES = ("source", "structure")


def create_api_token(session: Session, name: str, scope_type: str, scope: str,
                     now: dt.datetime, actor: Actor) -> tuple[ApiToken, str]:
    """A new token; the secret is returned here only (it is stored hashed)."""
    if scope_type not in TOKEN_SCOPES:
        raise InvalidInput(errors={"portee": ["Portée attendue : source ou structure."]})
    if not (scope or "").strip() or not (name or "").strip():
        raise InvalidInput(errors={"portee": ["Donnez un nom et une portée au jeton."]})
    secret = credentials.new_secret(API_TOKEN_PREFIX)
    token = ApiToken(name=name.strip()[:200], token_hash=credentials.digest(secret),
                     prefix=secret[:10], scope_type=scope_type, scope=scope.strip(),
                     created_by=actor.person_id, created_at=now)
    session.add(token)
    session.flush()
    journal.append(session, actor, "jeton d'API créé", now, object_type="api_token",
                   object_id=token.id, after={"nom": token.name, "portee": scope_type,
                                              "valeur": token.scope})
    return token, secret


def revoke_api_token(session: Session, token_id: int, now: dt.datetime,
                     actor: Actor) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"Aucun jeton ne porte l'identifiant {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = now
        journal.append(session, actor, "jeton d'API révoqué", now, object_type="api_token",
                       object_id=token.id)
    session.flush()
    return token


def resolve_api_token(session: Session, header: str | None, now: dt.datetime) -> ApiToken:
    """The token of an ``Authorization: Bearer …`` header, or Unauthorised (French)."""
    scheme, _, secret = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.startswith(API_TOKEN_PREFIX):
        raise Unauthorised("Jeton d'API manquant : en-tête « Authorization: Bearer psl_… ».")
    token = session.scalar(select(ApiToken).where(
        ApiToken.token_hash == credentials.digest(secret.strip())))
    if token is None or token.revoked_at is not None:
        raise Unauthorised("Jeton d'API inconnu ou révoqué.")
    token.last_used_at = now
    return token
