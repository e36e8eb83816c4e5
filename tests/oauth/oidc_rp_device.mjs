// The device authorization grant (RFC 8628) driven by node's openid-client (v6) as a public
// client: start it, print where the user should go (the Python test approves in a browser),
// poll until the tokens arrive, validate the ID token, call userinfo. One JSON line per step.
import * as client from 'openid-client'

const [issuer, clientId] = process.argv.slice(2)
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const config = await client.discovery(new URL(issuer), clientId, undefined, client.None())
const started = await client.initiateDeviceAuthorization(config, { scope: 'openid profile email' })
say({ user_code: started.user_code, verification_uri: started.verification_uri,
  verification_uri_complete: started.verification_uri_complete, interval: started.interval })
const tokens = await client.pollDeviceAuthorizationGrant(config, started)
const claims = tokens.claims()
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
say({ claims, userinfo, scope: tokens.scope, has_refresh: Boolean(tokens.refresh_token) })
