"""usage history and latest

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:39:32.841917

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('package_usage',
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('measured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.Column('mail_bytes', sa.BigInteger(), nullable=False),
    sa.Column('site_bytes', sa.BigInteger(), nullable=False),
    sa.Column('database_bytes', sa.BigInteger(), nullable=False),
    sa.Column('other_bytes', sa.BigInteger(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('scan_seconds', sa.Float(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_package_usage_package_id_package'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('package_id', name=op.f('pk_package_usage'))
    )
    op.create_table('usage_sample',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolution', sa.String(length=8), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_usage_sample_package_id_package'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_sample'))
    )
    with op.batch_alter_table('usage_sample', schema=None) as batch_op:
        batch_op.create_index('ix_usage_sample_package_taken', ['package_id', 'taken_at'], unique=False)



def downgrade():
    with op.batch_alter_table('usage_sample', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_sample_package_taken')

    op.drop_table('usage_sample')
    op.drop_table('package_usage')
