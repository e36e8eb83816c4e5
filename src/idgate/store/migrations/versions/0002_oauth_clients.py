"""OAuth clients, authorization codes, browser sessions (issue 4)

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'oauth_clients',
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('public', sa.Boolean(), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=True),
        sa.Column('auth_method', sa.String(length=32), nullable=False),
        sa.Column('grant_types', sa.Text(), nullable=False),
        sa.Column('redirect_uris', sa.Text(), nullable=False),
        sa.Column('post_logout_redirect_uris', sa.Text(), nullable=False),
        sa.Column('scopes', sa.Text(), nullable=False),
        sa.Column('audiences', sa.Text(), nullable=False),
        sa.Column('jwks', sa.Text(), nullable=True),
        sa.Column('introspect', sa.Boolean(), nullable=False),
        sa.Column('skip_consent', sa.Boolean(), nullable=False),
        sa.Column('access_token_ttl', sa.Integer(), nullable=True),
        sa.Column('refresh_token_ttl', sa.Integer(), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('updated_at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('client_id'),
    )
    op.create_table(
        'oauth_codes',
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('redirect_uri', sa.Text(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('audience', sa.Text(), nullable=False),
        sa.Column('nonce', sa.Text(), nullable=True),
        sa.Column('code_challenge', sa.String(length=128), nullable=False),
        sa.Column('auth_time', sa.Integer(), nullable=False),
        sa.Column('amr', sa.String(length=64), nullable=False),
        sa.Column('acr', sa.String(length=64), nullable=False),
        sa.Column('sid', sa.String(length=64), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('expires_at', _TS, nullable=False),
        sa.Column('used_at', _TS, nullable=True),
        sa.Column('login_session_id', sa.String(length=64), nullable=True),
        sa.Column('access_jti', sa.String(length=128), nullable=True),
        sa.Column('access_expires_at', _TS, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('code_hash'),
    )
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_codes_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_codes_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_codes_expires_at'), ['expires_at'], unique=False)
    op.create_table(
        'browser_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=True),
        sa.Column('auth_time', sa.Integer(), nullable=True),
        sa.Column('amr', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=256), nullable=True),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('last_seen_at', _TS, nullable=False),
        sa.Column('expires_at', _TS, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id_hash'),
        sa.UniqueConstraint('sid'),
    )
    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_browser_sessions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_browser_sessions_expires_at'), ['expires_at'], unique=False)
    op.create_table(
        'oauth_interactions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('session_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('login_done', sa.Boolean(), nullable=False),
        sa.Column('consent_done', sa.Boolean(), nullable=False),
        sa.Column('pending_user_id', sa.String(length=64), nullable=True),
        sa.Column('pending_since', sa.Integer(), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('expires_at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    with op.batch_alter_table('oauth_interactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_interactions_session_hash'), ['session_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_interactions_expires_at'), ['expires_at'], unique=False)
    op.create_table(
        'oauth_consents',
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('granted_at', _TS, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'client_id'),
    )
    op.create_table(
        'oauth_assertion_jtis',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('expires_at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    with op.batch_alter_table('oauth_assertion_jtis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_assertion_jtis_expires_at'), ['expires_at'], unique=False)
    op.create_table(
        'oauth_session_links',
        sa.Column('login_session_id', sa.String(length=64), nullable=False),
        sa.Column('browser_sid', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(['login_session_id'], ['sessions.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('login_session_id'),
    )
    with op.batch_alter_table('oauth_session_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_session_links_browser_sid'), ['browser_sid'], unique=False)


def downgrade() -> None:
    for table in ('oauth_session_links', 'oauth_assertion_jtis', 'oauth_consents', 'oauth_interactions',
                  'browser_sessions', 'oauth_codes', 'oauth_clients'):
        op.drop_table(table)
