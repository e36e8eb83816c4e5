"""Back-channel logout (OIDC Back-Channel Logout 1.0, issue 14): client metadata, the apps each
browser session signed in to, and the delivery outbox

Revision ID: 0011_backchannel
Revises: 0010_exchange
"""

from alembic import op
import sqlalchemy as sa

revision = '0011_backchannel'
down_revision = '0010_exchange'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_clients') as batch_op:
        batch_op.add_column(sa.Column('backchannel_logout_uri', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('backchannel_logout_session_required', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        'oauth_session_clients',
        sa.Column('browser_sid', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('browser_sid', 'client_id'),
    )
    op.create_index('ix_oauth_session_clients_user_id', 'oauth_session_clients', ['user_id'])
    op.create_table(
        'backchannel_deliveries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('uri', sa.Text(), nullable=False),
        sa.Column('sub', sa.String(length=64), nullable=True),
        sa.Column('sid', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.String(length=256), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_backchannel_deliveries_client_id', 'backchannel_deliveries', ['client_id'])
    op.create_index('ix_backchannel_deliveries_next_attempt_at', 'backchannel_deliveries', ['next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_backchannel_deliveries_next_attempt_at', table_name='backchannel_deliveries')
    op.drop_index('ix_backchannel_deliveries_client_id', table_name='backchannel_deliveries')
    op.drop_table('backchannel_deliveries')
    op.drop_index('ix_oauth_session_clients_user_id', table_name='oauth_session_clients')
    op.drop_table('oauth_session_clients')
    with op.batch_alter_table('oauth_clients') as batch_op:
        batch_op.drop_column('backchannel_logout_session_required')
        batch_op.drop_column('backchannel_logout_uri')
