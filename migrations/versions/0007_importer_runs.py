"""importer runs: who imported what, before-images for undo

Revision ID: 0007_importer_runs
Revises: 0006_offer_remote_index
Create Date: 2026-12-05 16:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007_importer_runs'
down_revision = '0006_offer_remote_index'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_run',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('by_user', sa.Text(), nullable=False),
        sa.Column('location', sa.Text(), nullable=True),
        sa.Column('file_digest', sa.String(length=64), nullable=True),
        sa.Column('format', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('report', sa.Text(), nullable=True),
        sa.Column('acceptance_ids', postgresql.ARRAY(sa.BigInteger()),
                  server_default=sa.text("'{}'::bigint[]"), nullable=False),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('undone_by', sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('written', 'rejected', 'dry_run', 'undone')",
                           name=op.f('ck_import_run_status_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_run')),
    )
    with op.batch_alter_table('import_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_run_source'), ['source'], unique=False)
    op.create_table(
        'import_run_row',
        sa.Column('run_id', sa.BigInteger(), nullable=False),
        sa.Column('source_id', sa.Text(), nullable=False),
        sa.Column('lieu_id', sa.BigInteger(), nullable=True),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint("action IN ('inserted', 'updated', 'closed')",
                           name=op.f('ck_import_run_row_action_known')),
        sa.ForeignKeyConstraint(['run_id'], ['import_run.id'],
                                name=op.f('fk_import_run_row_run_id_import_run'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('run_id', 'source_id', name=op.f('pk_import_run_row')),
    )
    with op.batch_alter_table('import_run_row', schema=None) as batch_op:
        batch_op.create_index('ix_import_run_row_source_id', ['source_id'], unique=False)


def downgrade():
    with op.batch_alter_table('import_run_row', schema=None) as batch_op:
        batch_op.drop_index('ix_import_run_row_source_id')
    op.drop_table('import_run_row')
    with op.batch_alter_table('import_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_run_source'))
    op.drop_table('import_run')
