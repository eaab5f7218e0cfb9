"""agreements: terms templates, agreement versions, acknowledgements (append-only)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:32:05.502194

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('terms_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hoster_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('text_nl', sa.Text(), nullable=False),
    sa.Column('matrix', sa.JSON(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('deadlines', sa.JSON(), nullable=False),
    sa.Column('grace', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_terms_template_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['hoster_id'], ['party.id'], name=op.f('fk_terms_template_hoster_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terms_template')),
    sa.UniqueConstraint('hoster_id', 'name', 'version', name=op.f('uq_terms_template_hoster_id_name_version'))
    )
    with op.batch_alter_table('terms_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_terms_template_hoster_id'), ['hoster_id'], unique=False)

    op.create_table('agreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('text_nl', sa.Text(), nullable=False),
    sa.Column('matrix', sa.JSON(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('deadlines', sa.JSON(), nullable=False),
    sa.Column('grace', sa.JSON(), nullable=False),
    sa.Column('limits', sa.JSON(), nullable=False),
    sa.Column('parties', sa.JSON(), nullable=False),
    sa.Column('party_names', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_agreement_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_agreement_package_id_package')),
    sa.ForeignKeyConstraint(['template_id'], ['terms_template.id'], name=op.f('fk_agreement_template_id_terms_template')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement')),
    sa.UniqueConstraint('package_id', 'version', name=op.f('uq_agreement_package_id_version'))
    )
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_package_id'), ['package_id'], unique=False)

    op.create_table('acknowledgement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_acknowledgement_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['party_id'], ['party.id'], name=op.f('fk_acknowledgement_party_id_party')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_acknowledgement_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_acknowledgement')),
    sa.UniqueConstraint('agreement_id', 'party_id', name=op.f('uq_acknowledgement_agreement_id_party_id'))
    )
    with op.batch_alter_table('acknowledgement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acknowledgement_agreement_id'), ['agreement_id'], unique=False)


    _append_only()


APPEND_ONLY = ("terms_template", "agreement", "acknowledgement")
GUARD = "agreements, terms and acknowledgements are never changed"


def _append_only():
    """The database itself refuses to change or remove what was agreed."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION agreement_history_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{GUARD}'; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION agreement_history_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{GUARD}'); END"
            )

def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION agreement_history_append_only()")
    with op.batch_alter_table('acknowledgement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acknowledgement_agreement_id'))

    op.drop_table('acknowledgement')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_package_id'))

    op.drop_table('agreement')
    with op.batch_alter_table('terms_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_terms_template_hoster_id'))

    op.drop_table('terms_template')
