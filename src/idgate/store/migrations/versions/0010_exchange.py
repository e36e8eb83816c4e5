"""Token exchange (RFC 8693, issue 14): which client may exchange tokens for which audience

Revision ID: 0010_exchange
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa

revision = '0010_exchange'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'token_exchange_policies',
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('subject_audience', sa.String(length=512), nullable=False),
        sa.Column('audience', sa.String(length=512), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('client_id', 'subject_audience', 'audience'),
    )


def downgrade() -> None:
    op.drop_table('token_exchange_policies')
