"""Class mode's library on a real SQLite file and a real PostgreSQL database (each test twice).

What a teacher and learners rely on: a class is created with a code and a key that only its hash
is kept of; learners join with the code; their digits, models and settings come back; the export
loads with ``load_mnist``; caps and wrong codes get one sentence; two writers at once lose nothing.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import sqlalchemy as sa

from mnistkit.classroom import caps, classes, database
from mnistkit.classroom.tables import Base, Classroom
from mnistkit.data import load_mnist


@pytest.fixture
def db(database_url):
    return database.open_database(database_url)


@pytest.fixture(scope="module")
def trained():
    """A small real linear model trained on the bundled sample (seconds)."""
    from mnistkit.training import RunConfig, train

    return train(RunConfig(model="scratch-linear", train_size=500, epochs=1), load_mnist("sample"))


def _digit(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)


def test_a_new_class_has_a_short_code_and_a_key_stored_only_as_a_hash(db):
    new = classes.create_class(db, "  Year 9   maths ")
    assert new.name == "Year 9 maths"
    assert len(new.code) == classes.CODE_LENGTH
    assert set(new.code) <= set(classes.CODE_ALPHABET)
    assert len(new.teacher_key) >= 20
    with db.session() as session:
        stored = session.execute(sa.select(Classroom.code, Classroom.teacher_key_hash)).all()
    assert stored == [(new.code, classes._hash(new.teacher_key))]
    assert new.teacher_key not in repr(stored)
    other = classes.create_class(db, "Year 10")
    assert other.code != new.code and other.teacher_key != new.teacher_key
    listed = {summary.code: summary for summary in classes.list_classes(db)}
    assert listed[new.code].name == "Year 9 maths" and listed[new.code].learners == 0


def test_wrong_teacher_key_or_code_gets_one_sentence_and_changes_nothing(db):
    new = classes.create_class(db, "Class")
    with pytest.raises(classes.AccessError, match="not the teacher key"):
        classes.delete_class(db, new.code, new.teacher_key.swapcase() + "!")
    with pytest.raises(classes.AccessError, match="no class with that join code"):
        classes.join_class(db, "ZZZZZZ", "ana", client="wrong-code-test")
    assert [summary.code for summary in classes.list_classes(db)] == [new.code]
    assert classes.check_teacher(db, new.code.lower(), new.teacher_key).name == "Class"


def test_learner_work_comes_back_by_token_and_exports_in_mnist_layout(db, trained, tmp_path):
    new = classes.create_class(db, "Class")
    ana = classes.join_class(db, f" {new.code.lower()[:3]}-{new.code[3:]} ", "Ana")
    ben = classes.join_class(db, new.code, "Ben")
    for index in range(5):
        classes.add_digit(db, ana.token, _digit(index), index)
        classes.add_digit(db, ben.token, _digit(100 + index), 9 - index)
    classes.save_model(db, ana.token, trained)
    classes.save_settings(db, ana.token, {"model": "scratch-linear", "epochs": 3})

    back = classes.membership(db, ana.token)
    assert (back.nickname, back.code) == ("Ana", new.code)
    own = classes.own_digits(db, ana.token)
    assert own.labels.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(own.images[2], _digit(2))
    assert classes.own_digits(db, ben.token).labels.tolist() == [9, 8, 7, 6, 5]
    (model,) = classes.own_models(db, ana.token)
    assert model.name == trained.name
    sample = _digit(7)[None]
    assert np.allclose(model.predict_proba(sample), trained.predict_proba(sample))
    assert classes.own_models(db, ben.token) == []
    assert classes.load_settings(db, ana.token) == {"model": "scratch-linear", "epochs": 3}

    pooled = classes.pooled_digits(db, ben.token)
    assert len(pooled.labels) == 10 and pooled.nicknames == ()
    assert classes.class_digits(db, new.code, new.teacher_key).nicknames.count("Ana") == 5
    rows = {row.nickname: row for row in classes.learners(db, new.code, new.teacher_key)}
    assert rows["Ana"].digits == 5 and rows["Ana"].models == 1 and rows["Ana"].active
    assert rows["Ana"].best_model == trained.name and rows["Ben"].best_model is None
    assert list(classes.best_models(db, new.code, new.teacher_key)) == [f"Ana: {trained.name}"]

    (tmp_path / "class.npz").write_bytes(classes.export_npz(pooled))
    exported = load_mnist(tmp_path / "class.npz")
    assert exported.n_train + exported.n_test == 10 and exported.n_test == 2
    assert sorted([*exported.y_train, *exported.y_test]) == sorted(pooled.labels.tolist())
    folder = tmp_path / "idx"
    folder.mkdir()
    for name, data in classes.export_idx(pooled).items():
        (folder / name).write_bytes(data)
    from_idx = load_mnist(folder)
    assert np.array_equal(from_idx.x_train, exported.x_train)
    assert np.array_equal(from_idx.y_test, exported.y_test)


def test_teacher_removes_a_digit_closes_and_deletes_the_class(db):
    new = classes.create_class(db, "Class")
    ana = classes.join_class(db, new.code, "Ana")
    first = classes.add_digit(db, ana.token, _digit(1), 1)
    classes.add_digit(db, ana.token, _digit(2), 2)
    classes.remove_digit(db, new.code, new.teacher_key, first)
    assert classes.own_digits(db, ana.token).labels.tolist() == [2]
    with pytest.raises(classes.ClassroomError, match="not in this class"):
        classes.remove_digit(db, new.code, new.teacher_key, first)

    classes.close_class(db, new.code, new.teacher_key)
    with pytest.raises(classes.ClassClosed, match="closed"):
        classes.join_class(db, new.code, "Ben")
    with pytest.raises(classes.ClassClosed, match="closed"):
        classes.add_digit(db, ana.token, _digit(3), 3)
    assert classes.own_digits(db, ana.token).labels.tolist() == [2]  # still readable

    classes.delete_class(db, new.code, new.teacher_key)
    assert classes.list_classes(db) == []
    with pytest.raises(classes.AccessError, match="no longer valid"):
        classes.own_digits(db, ana.token)
    with db.session() as session:
        for table in ("learners", "digits", "models"):
            assert session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_nicknames_are_capped_and_kept_as_plain_text(db):
    new = classes.create_class(db, "Class")
    with pytest.raises(classes.ClassroomError, match="at most 24 characters.*10,000") as error:
        classes.join_class(db, new.code, "x" * 10_000)
    assert len(str(error.value)) < 200
    html = "<b onclick=alert(1)>Zoë</b>"[:24]
    joined = classes.join_class(db, new.code, html)
    assert joined.nickname == html  # kept as typed; pages show it as text, never as HTML
    with pytest.raises(classes.ClassroomError, match="already uses that nickname"):
        classes.join_class(db, new.code, html)
    with pytest.raises(classes.ClassroomError, match="cannot be empty"):
        classes.join_class(db, new.code, " \n\t\u200b ")


def test_caps_are_stated_in_their_messages(db, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_LEARNERS", "2")
    monkeypatch.setenv("MNISTKIT_MAX_CLASS_DIGITS", "3")
    monkeypatch.setenv("MNISTKIT_MAX_CLASSES", "2")
    new = classes.create_class(db, "Class")
    ana = classes.join_class(db, new.code, "Ana")
    classes.join_class(db, new.code, "Ben")
    with pytest.raises(caps.CapReached, match=r"is full: it has 2 learners.*MAX_LEARNERS=2"):
        classes.join_class(db, new.code, "Cy")
    for index in range(3):
        classes.add_digit(db, ana.token, _digit(index), index)
    with pytest.raises(caps.CapReached, match=r"added 3 digits.*MAX_CLASS_DIGITS=3"):
        classes.add_digit(db, ana.token, _digit(9), 9)
    classes.create_class(db, "Second")
    with pytest.raises(caps.CapReached, match=r"already holds 2 classes.*MAX_CLASSES=2"):
        classes.create_class(db, "Third")


def test_a_database_over_its_size_cap_refuses_new_work(db, monkeypatch):
    new = classes.create_class(db, "Class")
    ana = classes.join_class(db, new.code, "Ana")
    cap_mb = int(db.size_bytes() / 1024**2) + 1
    monkeypatch.setenv("MNISTKIT_MAX_DATABASE_MB", str(cap_mb))
    classes.add_digit(db, ana.token, _digit(0), 0)
    filler = _digit(1).tobytes() * 40  # 31 kB rows until the database passes the cap
    with db.session() as session:
        learner_id = session.execute(sa.text("SELECT id FROM learners")).scalar()
        class_id = session.execute(sa.text("SELECT id FROM classes")).scalar()
        from mnistkit.classroom.tables import Digit

        for _ in range(cap_mb * 40):
            session.add(
                Digit(
                    class_id=class_id,
                    learner_id=learner_id,
                    label=1,
                    pixels=filler,
                    created_at=classes._now(),
                )
            )
    with pytest.raises(caps.CapReached, match=rf"MNISTKIT_MAX_DATABASE_MB={cap_mb}"):
        classes.add_digit(db, ana.token, _digit(2), 2)


def test_wrong_join_codes_are_rate_limited_per_browser(db, monkeypatch):
    monkeypatch.setenv("MNISTKIT_JOIN_ATTEMPTS", "3")
    new = classes.create_class(db, "Class")
    client = f"rate-limit-{db.engine.dialect.name}"
    for _ in range(3):
        with pytest.raises(classes.AccessError):
            classes.join_class(db, "WRONG1", "Eve", client=client)
    with pytest.raises(caps.CapReached, match="at most 3 a minute"):
        classes.join_class(db, new.code, "Eve", client=client)  # even the right code waits
    assert classes.join_class(db, new.code, "Ana", client=client + "-other").nickname == "Ana"


def test_classes_expire_unless_kept(db):
    old = classes.create_class(db, "Old")
    kept = classes.create_class(db, "Kept")
    assert classes.keep_class(db, kept.code, kept.teacher_key) is None
    with db.session() as session:
        session.execute(
            sa.update(Classroom)
            .where(Classroom.code == old.code)
            .values(expires_at=classes._now().replace(year=2020))
        )
    assert classes.expire(db) == 1
    assert [summary.code for summary in classes.list_classes(db)] == [kept.code]
    assert old.code not in {summary.code for summary in classes.list_classes(db)}


def test_two_learners_writing_at_once_lose_nothing(db):
    new = classes.create_class(db, "Class")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def learner(number: int) -> None:
        try:
            start.wait()
            member = classes.join_class(db, new.code, f"learner {number}")
            for index in range(8):
                classes.add_digit(db, member.token, _digit(number * 100 + index), index)
        except BaseException as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=learner, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert classes.list_classes(db)[0].learners == 6
    assert len(classes.class_digits(db, new.code, new.teacher_key).labels) == 48


def test_a_version_1_database_is_upgraded_in_place(database_url):
    old = database.connect(database_url)
    assert database.upgrade(old, target=1) == 0
    with old.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO classes (code, name, teacher_key_hash, created_at, expires_at, "
                "closed) VALUES ('ABCDEF', 'From v1', :hash, :now, :later, false)"
            ),
            {
                "hash": classes._hash("old-key"),
                "now": classes._now(),
                "later": classes._now().replace(year=2100),
            },
        )
    old.engine.dispose()

    db = database.open_database(database_url)
    assert db.schema_version() == database.SCHEMA_VERSION == 2
    with db.session() as session:
        classroom = session.scalar(sa.select(Classroom))
        assert (classroom.name, classroom.kept) == ("From v1", False)
    assert classes.check_teacher(db, "abcdef", "old-key").name == "From v1"
    member = classes.join_class(db, "ABCDEF", "Ana")
    classes.save_settings(db, member.token, {"epochs": 2})  # a version 2 column
    inspector = sa.inspect(db.engine)
    for table in Base.metadata.sorted_tables:
        found = {column["name"] for column in inspector.get_columns(table.name)}
        assert found == set(table.columns.keys()), table.name


def test_a_database_url_for_another_back_end_is_one_sentence():
    with pytest.raises(database.StorageError, match="works with SQLite and PostgreSQL"):
        database.connect("mysql://example/db")
    with pytest.raises(database.StorageError, match="not a database URL"):
        database.connect("not a url at all")
