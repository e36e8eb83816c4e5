// Token exchange (RFC 8693) with node's openid-client (v6): a confidential backend trades the
// user's access token it was given for one addressed to the next service, through the
// library's generic grant request. Prints the token endpoint response as one JSON line.
import * as client from 'openid-client'

const [issuer, clientId, clientSecret, subjectToken, audience] = process.argv.slice(2)
const config = await client.discovery(new URL(issuer), clientId, clientSecret)
const response = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
  subject_token: subjectToken,
  subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  audience,
  scope: 'things:read',
})
process.stdout.write(JSON.stringify(response) + '\n')
