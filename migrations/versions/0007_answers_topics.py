"""offer topics (data·inclusion's digital thematiques)

Revision ID: 0007_answers_topics
Revises: 0007_importer_runs
Create Date: 2026-12-05 17:15:00

Existing offers get no topic here (reference and catalogue data are never written by a
migration): re-import the offers or reload the demo to fill them.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0007_answers_topics'
down_revision = '0008_accounts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('offre', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topics', postgresql.ARRAY(sa.Text()),
                                      server_default=sa.text("'{}'::text[]"), nullable=False))
        batch_op.create_index('ix_offre_topics', ['topics'], unique=False,
                              postgresql_using='gin')


def downgrade():
    with op.batch_alter_table('offre', schema=None) as batch_op:
        batch_op.drop_index('ix_offre_topics', postgresql_using='gin')
        batch_op.drop_column('topics')
