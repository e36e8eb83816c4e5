// An OpenID Connect relying party built on node's openid-client (v6). The user's browser is
// played by the Python test: this script prints the authorization URL, reads back the URL the
// browser arrived at, then exchanges the code, validates the ID token, calls userinfo,
// refreshes and builds the RP-initiated logout URL. One JSON object per line on stdout.
import * as client from 'openid-client'
import readline from 'node:readline'

const [issuer, clientId, clientSecret, redirectUri, logoutUri] = process.argv.slice(2)
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const config = await client.discovery(new URL(issuer), clientId, clientSecret)
const verifier = client.randomPKCECodeVerifier()
const challenge = await client.calculatePKCECodeChallenge(verifier)
const state = client.randomState()
const nonce = client.randomNonce()
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile email', code_challenge: challenge,
  code_challenge_method: 'S256', state, nonce,
})
say({ url: url.href, state })

const arrived = (await lines.next()).value
const tokens = await client.authorizationCodeGrant(config, new URL(arrived), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
})
const claims = tokens.claims()
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
const logout = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token, post_logout_redirect_uri: logoutUri, state: 'bye-state',
})
say({
  claims, userinfo, scope: tokens.scope, refreshed: refreshed.access_token !== tokens.access_token,
  refresh_token: refreshed.refresh_token, logout: logout.href,
})
