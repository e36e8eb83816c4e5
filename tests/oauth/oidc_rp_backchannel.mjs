// A relying party's back-channel logout endpoint (OIDC Back-Channel Logout 1.0 §2.5-2.6), with
// `jose` (the JOSE library openid-client itself uses): listens on loopback, prints its URL,
// verifies the first logout token it receives against the issuer's JWKS - signature, iss, aud,
// typ logout+jwt, iat/exp, the events member, sub or sid, and no nonce - answers 200, prints
// the claims and exits. A bad token gets 400 and is printed as an error.
import http from 'node:http'
import * as jose from 'jose'

const [issuer, clientId] = process.argv.slice(2)
const jwks = jose.createRemoteJWKSet(new URL(issuer + '/jwks.json'))
const EVENT = 'http://schemas.openid.net/event/backchannel-logout'
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const server = http.createServer(async (req, res) => {
  let body = ''
  for await (const chunk of req) body += chunk
  try {
    if (req.method !== 'POST' || !req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      throw new Error('not a form POST')
    }
    const token = new URLSearchParams(body).get('logout_token')
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
      issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: '2 minutes',
    })
    if (!payload.events || typeof payload.events[EVENT] !== 'object') throw new Error('no logout event')
    if ('nonce' in payload) throw new Error('a logout token must not carry nonce')
    if (!payload.sub && !payload.sid) throw new Error('neither sub nor sid')
    res.writeHead(200, { 'Cache-Control': 'no-store' }).end()
    say({ claims: payload, header: protectedHeader })
    server.close()
  } catch (err) {
    res.writeHead(400).end()
    say({ error: String(err) })
    server.close()
  }
})
server.listen(0, '127.0.0.1', () => say({ url: `http://127.0.0.1:${server.address().port}/backchannel` }))
