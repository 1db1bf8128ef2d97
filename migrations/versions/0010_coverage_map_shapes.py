"""coverage map shapes: polygons simplified per map zoom

Revision ID: 0010_coverage_map_shapes
Revises: 0009_referrals
Create Date: 2026-12-05 19:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_coverage_map_shapes'
down_revision = '0009_referrals'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('coverage_map_shape',
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('code', sa.String(length=9), nullable=False),
    sa.Column('zoom', sa.SmallInteger(), nullable=False),
    sa.Column('source_md5', sa.Text(), nullable=False),
    sa.Column('geojson', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'code', 'zoom', name=op.f('pk_coverage_map_shape'))
    )


def downgrade():
    op.drop_table('coverage_map_shape')
