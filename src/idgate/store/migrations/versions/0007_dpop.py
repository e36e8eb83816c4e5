"""DPoP (RFC 9449): key-bound refresh tokens and codes, clients that require DPoP

- ``refresh_tokens.dpop_jkt``: the thumbprint a public client's refresh token is bound to
  (§5); every token of the family carries it, and a refresh must prove the same key.
- ``oauth_codes.dpop_jkt``: the ``dpop_jkt`` authorization request parameter (§10); the code is
  redeemable only with a proof of that key.
- ``oauth_clients.dpop_bound_access_tokens``: the client metadata of §5.2; its token requests
  without a DPoP proof are refused.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_bound_access_tokens', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('dpop_bound_access_tokens')
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
