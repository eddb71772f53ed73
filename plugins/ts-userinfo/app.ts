// Seed 004's `get_user_info` as a Warden plugin in TypeScript: the caller's profile from the
// IdP's `/userinfo`, fetched with the caller's upstream access token. The host attaches that
// token (`credential = "caller"` in the manifest); this code never sees it.
import { destination, failed, fetch, plugin, tool } from '@warden/plugin-sdk';

const getUserInfo = tool({
  name: 'get_user_info',
  description: "Return the caller's profile from the identity provider",
  handler: async (_args, cx) => {
    const response = await fetch(destination('idp'), { headers: { accept: 'application/json' } });
    if (!response.ok) {
      throw failed(`the identity provider answered ${response.status}: ${await response.text()}`);
    }
    return {
      issuer: cx.caller.issuer,
      scopes: cx.caller.scopes,
      permissions: cx.caller.permissions,
      user_info: await response.json(),
    };
  },
});

export const server = plugin({ tools: [getUserInfo] });
