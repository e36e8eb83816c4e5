"""Resource servers (audiences) with optional encryption keys (issue 3)

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'resource_servers',
        sa.Column('audience', sa.String(length=512), nullable=False),
        sa.Column('encryption_jwk', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('audience'),
    )


def downgrade() -> None:
    op.drop_table('resource_servers')
