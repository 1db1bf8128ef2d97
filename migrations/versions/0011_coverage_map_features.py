"""coverage map features: each territory's GeoJSON Feature per run and zoom, stored

Revision ID: 0011_coverage_map_features
Revises: 0010_coverage_map_shapes
Create Date: 2026-12-05 20:50:00

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry


# revision identifiers, used by Alembic.
revision = '0011_coverage_map_features'
down_revision = '0010_coverage_map_shapes'
branch_labels = None
depends_on = None


def upgrade():
    # Trusted extension (PostgreSQL ≥ 13): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table('coverage_map_feature',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('zoom', sa.SmallInteger(), nullable=False),
    sa.Column('code', sa.String(length=9), nullable=False),
    sa.Column('feature', sa.Text(), nullable=False),
    sa.Column('bbox', Geometry(geometry_type='GEOMETRY', srid=4326, spatial_index=False), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['coverage_run.id'], name=op.f('fk_coverage_map_feature_run_id_coverage_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'level', 'zoom', 'code', name=op.f('pk_coverage_map_feature'))
    )
    op.create_index('ix_coverage_map_feature_box', 'coverage_map_feature', ['run_id', 'level', 'zoom', 'bbox'], unique=False, postgresql_using='gist')


def downgrade():
    op.drop_index('ix_coverage_map_feature_box', table_name='coverage_map_feature', postgresql_using='gist')
    op.drop_table('coverage_map_feature')
