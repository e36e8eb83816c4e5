"""The second-factor step a browser sign-in waits for (a code, or setting one up first)

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_step', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_interactions', schema=None) as batch_op:
        batch_op.drop_column('pending_step')
