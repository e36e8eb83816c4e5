"""How the login behind a grant happened, kept on its session (auth_time, acr, sid)

Refreshed ID tokens (OpenID Connect Core §12.2) repeat the original authentication's
auth_time, acr and sid; the authorization code that carried them is purged a day after it
expires, so the grant's session keeps them for its whole life.

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_time', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acr', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sid', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('sid')
        batch_op.drop_column('acr')
        batch_op.drop_column('auth_time')
