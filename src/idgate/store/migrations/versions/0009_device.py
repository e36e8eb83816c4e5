"""Device authorization grant (RFC 8628, issue 14): pending device codes and their user codes

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_authorizations',
        sa.Column('device_code_hash', sa.String(length=64), nullable=False),
        sa.Column('user_code', sa.String(length=16), nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('audience', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('interval', sa.Integer(), nullable=False),
        sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('user_id', sa.String(length=64), nullable=True),
        sa.Column('auth_time', sa.Integer(), nullable=True),
        sa.Column('amr', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('device_code_hash'),
        sa.UniqueConstraint('user_code'),
    )
    op.create_index('ix_device_authorizations_client_id', 'device_authorizations', ['client_id'])


def downgrade() -> None:
    op.drop_index('ix_device_authorizations_client_id', table_name='device_authorizations')
    op.drop_table('device_authorizations')
