"""Passkeys (issue 13): WebAuthn credentials and ceremony challenges

- ``passkeys``: one row per registered credential (public key, counter, backup flags, name).
- ``webauthn_challenges``: outstanding single-use challenges, bound to a browser session.
- ``oauth_clients.require_passkey``: the client accepts only sessions signed in with a passkey.

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'passkeys',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('credential_id', sa.LargeBinary(length=1023), nullable=False),
        sa.Column('public_key', sa.LargeBinary(), nullable=False),
        sa.Column('sign_count', sa.BigInteger(), nullable=False),
        sa.Column('aaguid', sa.String(length=36), nullable=False),
        sa.Column('transports', sa.Text(), nullable=False),
        sa.Column('backup_eligible', sa.Boolean(), nullable=False),
        sa.Column('backed_up', sa.Boolean(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('credential_id'),
    )
    op.create_index('ix_passkeys_user_id', 'passkeys', ['user_id'])
    op.create_table(
        'webauthn_challenges',
        sa.Column('challenge_hash', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('session_hash', sa.String(length=64), nullable=False),
        sa.Column('interaction_hash', sa.String(length=64), nullable=True),
        sa.Column('user_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('challenge_hash'),
    )
    op.create_index('ix_webauthn_challenges_session_hash', 'webauthn_challenges', ['session_hash'])
    op.create_index('ix_webauthn_challenges_expires', 'webauthn_challenges', ['expires_at'])
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('require_passkey', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('require_passkey')
    op.drop_index('ix_webauthn_challenges_expires', table_name='webauthn_challenges')
    op.drop_index('ix_webauthn_challenges_session_hash', table_name='webauthn_challenges')
    op.drop_table('webauthn_challenges')
    op.drop_index('ix_passkeys_user_id', table_name='passkeys')
    op.drop_table('passkeys')
