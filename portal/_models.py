"""The portal's tables (SQLAlchemy 2.x declarative). Alembic migrations mirror this metadata.

Nothing here stores a secret in clear: passwords are argon2 hashes, client secrets, refresh
tokens and authorization codes are SHA-256 digests (they are 256-bit random values, so a
fast hash suffices; a slow KDF is for low-entropy human passwords). Access tokens are JWTs
and only their ``jti`` is kept.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AppKind",
    "AppStatus",
    "AuthorizationCode",
    "Base",
    "Client",
    "ClientAuthFailure",
    "LogCheckpoint",
    "LogEntry",
    "LoginFailure",
    "OrgKind",
    "OrgStatus",
    "Organization",
    "Revocation",
    "Role",
    "Token",
    "User",
]


class OrgKind(enum.StrEnum):
    BANK = "BANK"
    INSURER = "INSURER"
    RESEARCH = "RESEARCH"
    PUBLIC_BODY = "PUBLIC_BODY"
    STEWARD = "STEWARD"  # the stewards' own organization, never a partner's


class OrgStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"  # its apps get no tokens, its users cannot sign in


class Role(enum.StrEnum):
    STEWARD = "STEWARD"
    PARTNER = "PARTNER"


class AppKind(enum.StrEnum):
    APP = "APP"  # a partner's confidential app: client credentials
    ZONE = "ZONE"  # the zone's own client: reads the revocation feed, introspects
    SIGN_IN = "SIGN_IN"  # a public client users sign in through: authorization code + PKCE


class AppStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"


class Base(DeclarativeBase):
    pass


class Organization(Base):
    """``slug`` is the organization's stable short name (``[a-z0-9-]{2,32}``): the access
    token's ``org`` claim and the partner a consent names. It never changes once given."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=OrgStatus.ACTIVE)
    created_at: Mapped[float] = mapped_column(Float)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[float] = mapped_column(Float)
    # A disabled user cannot sign in; their refresh tokens are revoked when disabled.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Client(Base):
    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret_issued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    requested_scopes: Mapped[list[str]] = mapped_column(JSON)
    requested_purposes: Mapped[list[str]] = mapped_column(JSON)
    granted_scopes: Mapped[list[str]] = mapped_column(JSON)
    granted_purposes: Mapped[list[str]] = mapped_column(JSON)
    justification: Mapped[str] = mapped_column(Text, default="")
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    # Issue 14: the JWK Set (one public key) of an app using private_key_jwt (RFC 7523);
    # None for an app with a client secret. An app has one or the other, never both.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ClientAssertionJti(Base):
    """An accepted private_key_jwt assertion's ``jti``, kept until it expires: a second
    presentation is a replay (RFC 7523 §3, item 7)."""

    __tablename__ = "client_assertion_jtis"
    __table_args__ = (
        UniqueConstraint("client_id", "jti", name="uq_client_assertion_jtis_client_jti"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class Token(Base):
    """One issuance: an access token (by jti) and possibly a refresh token (by digest)."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    refresh_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Set when the refresh token was exchanged (rotated): presenting it again is reuse.
    refresh_used: Mapped[bool] = mapped_column(Boolean, default=False)
    refresh_revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    family_id: Mapped[str] = mapped_column(String(64), index=True)


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[float] = mapped_column(Float)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    # The token family the code was exchanged for: a replayed code revokes it (RFC 6749 4.1.2).
    family_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Revocation(Base):
    """The revocation feed: the id is the cursor the gRPC server polls with."""

    __tablename__ = "revocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[float] = mapped_column(Float)


class LoginFailure(Base):
    """A failed sign-in, counted per username and per client address (the socket peer)."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    at: Mapped[float] = mapped_column(Float)


class ClientAuthFailure(Base):
    """A failed client authentication (``invalid_client``), counted per presented client_id
    and client address (so a stranger cannot lock an app out from everywhere)."""

    __tablename__ = "client_auth_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)


class LogEntry(Base):
    """One leaf of the portal log: canonical JSON of a typed event; index = id - 1."""

    __tablename__ = "log_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class LogCheckpoint(Base):
    __tablename__ = "log_checkpoints"
    size: Mapped[int] = mapped_column(Integer, primary_key=True)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
