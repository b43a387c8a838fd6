"""Users of the officer service and their bearer tokens: create, list, revoke, verify.

Tokens are random secrets (``secrets.token_urlsafe``, 256 bits) shown once when a user is added;
the ``users`` table keeps only their SHA-256. A fast hash is right here (unlike passwords): the
secret is high-entropy, so there is nothing to brute-force, and every request checks it.

``trailmatch users`` (``commands/users.py``) and the service's authentication
(``service/auth.py``) both use these functions; neither knows how a token is hashed or stored.
Every function takes ``bind`` as ``repository`` does: an ``Engine`` or an open ``Connection``.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, func, insert, select, update

from trailmatch.hitstore.binds import all_rows, one_row, transaction, utcnow
from trailmatch.hitstore.schema import ROLES, users

TOKEN_PREFIX = "tm_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(bind, name: str, role: str, police_force: str | None) -> tuple[int, str]:
    """Create a user; returns (id, token). The token is not stored and cannot be shown again."""
    token = new_token()
    return insert_user(bind, name, role, token_hash(token), police_force=police_force), token


class UserError(ValueError):
    """A user that cannot be added as asked (the message says why)."""


def insert_user(bind, name: str, role: str, hashed: str, police_force: str | None = None) -> int:
    """The row of a user whose token hash is ``hashed`` (``add_user`` makes the token).

    Names are unique (whatever their case, revoked users included: the audit log names users,
    and one name must mean one person); an officer has a police force, the processing team
    none."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip() or not name.isprintable():
        raise UserError(f"a user name is printable text, got {name!r}")
    if role == "officer" and not police_force:
        raise UserError("an officer belongs to a police force: give one")
    if role == "processing" and police_force:
        raise UserError("the processing team sees every force: give no police force")
    with transaction(bind) as conn:
        taken = conn.execute(select(users.c.id).where(
            func.lower(users.c.name) == name.lower())).first()
        if taken is not None:
            raise UserError(f"a user named {name!r} already exists (user {taken[0]})")
        return int(conn.execute(insert(users).values(
            name=name, role=role, police_force=police_force, token_hash=hashed,
            created_at=utcnow()).returning(users.c.id)).scalar_one())


def list_users(bind, *, include_revoked: bool = True) -> list[dict]:
    """Users by id, without their token hashes."""
    query = select(users.c.id, users.c.name, users.c.role, users.c.police_force,
                   users.c.created_at, users.c.revoked_at).order_by(users.c.id)
    if not include_revoked:
        query = query.where(users.c.revoked_at.is_(None))
    with transaction(bind) as conn:
        return all_rows(conn.execute(query))


def revoke_user(bind, user: int | str) -> int:
    """Revoke a user by id (an ``int``) or by name (a ``str``, always a name even if it is
    made of digits); returns how many were revoked (0 or 1)."""
    cond = users.c.id == user if isinstance(user, int) else users.c.name == user
    with transaction(bind) as conn:
        return conn.execute(update(users).where(cond, users.c.revoked_at.is_(None))
                            .values(revoked_at=utcnow())).rowcount


_USER_BY_TOKEN = select(users).where(users.c.token_hash == bindparam("token_hash"),
                                     users.c.revoked_at.is_(None))  # built once: every request


def user_for_token(bind, token: str) -> dict | None:
    """The active (unrevoked) user holding this bearer token, or None."""
    return user_by_token_hash(bind, token_hash(token))


def user_by_token_hash(bind, hashed: str) -> dict | None:
    """The active (unrevoked) user whose token hashes to ``hashed``, or None."""
    with transaction(bind) as conn:
        return one_row(conn.execute(_USER_BY_TOKEN, {"token_hash": hashed}))
