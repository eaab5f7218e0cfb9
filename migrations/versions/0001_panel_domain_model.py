"""panel domain model: parties, people, plans, nodes, packages, audit log

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 17:14:29.990584

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('party',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('hoster_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hoster_id'], ['party.id'], name=op.f('fk_party_hoster_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_party'))
    )
    with op.batch_alter_table('party', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_hoster_id'), ['hoster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_party_kind'), ['kind'], unique=False)

    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('email', name=op.f('uq_user_account_email'))
    )
    op.create_table('worker_heartbeat',
    sa.Column('hostname', sa.String(length=200), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hostname', name=op.f('pk_worker_heartbeat'))
    )
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hoster_id', sa.Integer(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_party_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_party_id'], ['party.id'], name=op.f('fk_audit_event_actor_party_id_party')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['user_account.id'], name=op.f('fk_audit_event_actor_user_id_user_account')),
    sa.ForeignKeyConstraint(['hoster_id'], ['party.id'], name=op.f('fk_audit_event_hoster_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_hoster_id'), ['hoster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_subject_type'), ['subject_type'], unique=False)

    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['party.id'], name=op.f('fk_contact_party_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_party_id'), ['party_id'], unique=False)

    op.create_table('hosting_node',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hoster_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('layout', sa.String(length=16), nullable=False),
    sa.Column('home_template', sa.String(length=300), nullable=False),
    sa.Column('mail_template', sa.String(length=300), nullable=False),
    sa.Column('docroot_template', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hoster_id'], ['party.id'], name=op.f('fk_hosting_node_hoster_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hosting_node')),
    sa.UniqueConstraint('hoster_id', 'name', name=op.f('uq_hosting_node_hoster_id_name'))
    )
    with op.batch_alter_table('hosting_node', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hosting_node_hoster_id'), ['hoster_id'], unique=False)

    op.create_table('invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by_id'], ['user_account.id'], name=op.f('fk_invitation_invited_by_id_user_account')),
    sa.ForeignKeyConstraint(['party_id'], ['party.id'], name=op.f('fk_invitation_party_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitation'))
    )
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitation_party_id'), ['party_id'], unique=False)

    op.create_table('membership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['party.id'], name=op.f('fk_membership_party_id_party')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_membership_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership')),
    sa.UniqueConstraint('user_id', 'party_id', name=op.f('uq_membership_user_id_party_id'))
    )
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_party_id'), ['party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_membership_user_id'), ['user_id'], unique=False)

    op.create_table('plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hoster_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('storage_quota_bytes', sa.BigInteger(), nullable=False),
    sa.Column('mailbox_count', sa.Integer(), nullable=False),
    sa.Column('default_mailbox_quota_bytes', sa.BigInteger(), nullable=False),
    sa.Column('notice_percent', sa.Integer(), nullable=False),
    sa.Column('warning_percent', sa.Integer(), nullable=False),
    sa.Column('critical_percent', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hoster_id'], ['party.id'], name=op.f('fk_plan_hoster_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan')),
    sa.UniqueConstraint('hoster_id', 'name', name=op.f('uq_plan_hoster_id_name'))
    )
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_hoster_id'), ['hoster_id'], unique=False)

    op.create_table('package',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hoster_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hoster_id'], ['party.id'], name=op.f('fk_package_hoster_id_party')),
    sa.ForeignKeyConstraint(['node_id'], ['hosting_node.id'], name=op.f('fk_package_node_id_hosting_node')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_package_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_package')),
    sa.UniqueConstraint('hoster_id', 'name', name=op.f('uq_package_hoster_id_name'))
    )
    with op.batch_alter_table('package', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_package_hoster_id'), ['hoster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_package_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_package_plan_id'), ['plan_id'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_assignment_package_id_package')),
    sa.ForeignKeyConstraint(['party_id'], ['party.id'], name=op.f('fk_assignment_party_id_party')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment')),
    sa.UniqueConstraint('package_id', 'role', name=op.f('uq_assignment_package_id_role'))
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_package_id'), ['package_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_party_id'), ['party_id'], unique=False)

    op.create_table('domain',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=253), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_domain_package_id_package')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domain')),
    sa.UniqueConstraint('name', name=op.f('uq_domain_name'))
    )
    with op.batch_alter_table('domain', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_domain_package_id'), ['package_id'], unique=False)

    op.create_table('hosted_database',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_hosted_database_package_id_package')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hosted_database')),
    sa.UniqueConstraint('package_id', 'name', name=op.f('uq_hosted_database_package_id_name'))
    )
    with op.batch_alter_table('hosted_database', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hosted_database_package_id'), ['package_id'], unique=False)

    op.create_table('mailbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('quota_bytes', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_mailbox_package_id_package')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailbox')),
    sa.UniqueConstraint('address', name=op.f('uq_mailbox_address'))
    )
    with op.batch_alter_table('mailbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mailbox_package_id'), ['package_id'], unique=False)

    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('docroot', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], name=op.f('fk_site_package_id_package')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site')),
    sa.UniqueConstraint('package_id', 'docroot', name=op.f('uq_site_package_id_docroot'))
    )
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_package_id'), ['package_id'], unique=False)


    _audit_append_only()


AUDIT_GUARD = "audit events are append-only"


def _audit_append_only():
    """The database itself refuses to change or remove an audit event."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{AUDIT_GUARD}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                f"BEGIN SELECT RAISE(ABORT, '{AUDIT_GUARD}'); END"
            )

def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_package_id'))

    op.drop_table('site')
    with op.batch_alter_table('mailbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailbox_package_id'))

    op.drop_table('mailbox')
    with op.batch_alter_table('hosted_database', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosted_database_package_id'))

    op.drop_table('hosted_database')
    with op.batch_alter_table('domain', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domain_package_id'))

    op.drop_table('domain')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_party_id'))
        batch_op.drop_index(batch_op.f('ix_assignment_package_id'))

    op.drop_table('assignment')
    with op.batch_alter_table('package', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_package_plan_id'))
        batch_op.drop_index(batch_op.f('ix_package_node_id'))
        batch_op.drop_index(batch_op.f('ix_package_hoster_id'))

    op.drop_table('package')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_hoster_id'))

    op.drop_table('plan')
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_membership_user_id'))
        batch_op.drop_index(batch_op.f('ix_membership_party_id'))

    op.drop_table('membership')
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitation_party_id'))

    op.drop_table('invitation')
    with op.batch_alter_table('hosting_node', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosting_node_hoster_id'))

    op.drop_table('hosting_node')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_party_id'))

    op.drop_table('contact')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_subject_type'))
        batch_op.drop_index(batch_op.f('ix_audit_event_hoster_id'))

    op.drop_table('audit_event')
    op.drop_table('worker_heartbeat')
    op.drop_table('user_account')
    with op.batch_alter_table('party', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_kind'))
        batch_op.drop_index(batch_op.f('ix_party_hoster_id'))

    op.drop_table('party')
