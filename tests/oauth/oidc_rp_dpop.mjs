// node's openid-client (v6) with DPoP (RFC 9449) against idgate: client_credentials for a
// service, then the authorization code flow for a web app, userinfo with the bound token and a
// refresh, all with one key pair; openid-client answers use_dpop_nonce by itself. The browser is
// played by the Python test (one JSON object per line on stdout, the arrival URL on stdin).
import * as client from 'openid-client'
import readline from 'node:readline'

const [issuer, webId, webSecret, svcId, svcSecret, redirectUri] = process.argv.slice(2)
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const keyPair = await client.randomDPoPKeyPair('ES256')
const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey)

const service = await client.discovery(new URL(issuer), svcId, svcSecret)
const own = await client.clientCredentialsGrant(service, { scope: 'things:read' },
  { DPoP: client.getDPoPHandle(service, keyPair) })

const web = await client.discovery(new URL(issuer), webId, webSecret)
const dpop = client.getDPoPHandle(web, keyPair)
const verifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const url = client.buildAuthorizationUrl(web, {
  redirect_uri: redirectUri, scope: 'openid profile email', state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
})
say({ url: url.href })

const arrived = (await lines.next()).value
const tokens = await client.authorizationCodeGrant(web, new URL(arrived), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
}, undefined, { DPoP: dpop })
const claims = tokens.claims()
const userinfo = await client.fetchUserInfo(web, tokens.access_token, claims.sub, { DPoP: dpop })
const refreshed = await client.refreshTokenGrant(web, tokens.refresh_token, undefined, { DPoP: dpop })
say({
  jwk, service: { token_type: own.token_type, access_token: own.access_token },
  code: { token_type: tokens.token_type, access_token: tokens.access_token },
  userinfo, refreshed: { token_type: refreshed.token_type, access_token: refreshed.access_token },
})
