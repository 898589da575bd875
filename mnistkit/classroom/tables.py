"""The class database's schema as typed tables: a class, its learners, their digits and models.

These classes describe the schema at its current version (``database.SCHEMA_VERSION``); the
ordered steps in ``database`` build it and upgrade older files to it in place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """The declarative base every class-mode table derives from."""


class SchemaVersion(Base):
    """One row: the version of the schema the database holds."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(primary_key=True)


class Classroom(Base):
    """A class: its name, the code learners join with, and the hash of the teacher's key."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    teacher_key_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex, never the key
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]  # None while the teacher keeps the class
    closed: Mapped[bool] = mapped_column(default=False)  # no more joins or new work
    kept: Mapped[bool] = mapped_column(default=False)  # version 2: the teacher keeps it

    learners: Mapped[list[Learner]] = relationship(
        back_populates="classroom", cascade="all, delete-orphan", passive_deletes=True
    )


class Learner(Base):
    """A learner in a class: a nickname and the hash of the token their browser keeps."""

    __tablename__ = "learners"
    __table_args__ = (UniqueConstraint("class_id", "nickname"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    nickname: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    joined_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    settings: Mapped[str | None] = mapped_column(Text)  # version 2: Train settings as JSON

    classroom: Mapped[Classroom] = relationship(back_populates="learners")
    digits: Mapped[list[Digit]] = relationship(
        back_populates="learner", cascade="all, delete-orphan", passive_deletes=True
    )
    models: Mapped[list[LearnerModel]] = relationship(
        back_populates="learner", cascade="all, delete-orphan", passive_deletes=True
    )


class Digit(Base):
    """One handwritten digit a learner labelled: 28x28 uint8 pixels (784 bytes) and the label."""

    __tablename__ = "digits"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[int]
    pixels: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]

    learner: Mapped[Learner] = relationship(back_populates="digits")


class LearnerModel(Base):
    """A learner's model as the same safe file bytes a download holds."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("learner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(40))
    test_accuracy: Mapped[float | None]
    file_name: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]

    learner: Mapped[Learner] = relationship(back_populates="models")
