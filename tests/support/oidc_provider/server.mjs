// A real OpenID provider (oidc-provider, OpenID-certified) for rise's login tests.
// Usage: node server.mjs CONFIG.json. The file gives the issuer, the port, the signing keys
// (private JWKs: the test rewrites them and restarts this process to rotate keys), the static
// clients, and each account's groups. Any login/password signs in on the dev login page.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const groups = config.groups ?? {};

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.keys },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      preferred_username: id,
      name: id,
      email: `${id}@example.test`,
      email_verified: true,
      groups: groups[id] ?? [],
    }),
  }),
  // Consent is granted at once: the tests sign in, they do not click "Continue".
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    grant.addOIDCClaims(['sub', 'preferred_username', 'name', 'email', 'email_verified', 'groups']);
    await grant.save();
    return grant;
  },
});
provider.listen(config.port, '127.0.0.1', () => console.log(`listening on ${config.port}`));
