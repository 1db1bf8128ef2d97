"""Migrations build the schema the models describe; each test's writes are rolled back."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from core.database import include_object
from extensions import db
from geodata.models import Region
from tests.conftest import transactional_session


def test_models_and_migrations_agree(app):
    """The session database was built by ``upgrade`` on an empty database."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_each_test_runs_in_a_transaction_rolled_back(app):
    with transactional_session(app) as session:
        session.add(Region(code="ZZ", name="Région de test"))
        session.commit()  # only releases a savepoint inside the outer transaction
        assert session.scalar(select(Region.name).where(Region.code == "ZZ"))
    # A separate connection sees nothing: the outer transaction was rolled back.
    with app.app_context():
        engine = create_engine(db.engine.url)
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM region WHERE code = 'ZZ'"))
            assert count.scalar_one() == 0
        engine.dispose()
