"""venue declared topics (v0.1 services, presentation text)

Revision ID: 0012_venue_topics
Revises: 0011_coverage_map_features
Create Date: 2026-12-05 20:00:00

Existing venues get no topic here (catalogue data is never written by a migration):
re-import the sources to fill them.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0012_venue_topics'
down_revision = '0011_coverage_map_features'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lieu', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topics', postgresql.ARRAY(sa.Text()),
                                      server_default=sa.text("'{}'::text[]"), nullable=False))
        batch_op.create_index('ix_lieu_topics', ['topics'], unique=False,
                              postgresql_using='gin')


def downgrade():
    with op.batch_alter_table('lieu', schema=None) as batch_op:
        batch_op.drop_index('ix_lieu_topics', postgresql_using='gin')
        batch_op.drop_column('topics')
