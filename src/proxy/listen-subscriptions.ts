import { EmptyResultSchema } from '@modelcontextprotocol/core';
import { checkAccess, hiddenResource, type AccessCaller } from './access-check.js';
import { ProtocolError, UpstreamUnavailableError } from './errors.js';
import { Router, type SessionScope } from './router.js';
import type { SessionDeps } from './session-deps.js';

/**
 * The resources a 2026 client asks to hear about when it opens a listen
 * stream (`subscriptions/listen`, `notifications.resourceSubscriptions`),
 * checked as a 2025 `resources/subscribe` of each would be: the policy
 * decides each URI (audited), a hidden one is answered as one that does not
 * exist, and each is subscribed to at the server that owns it, so its
 * updates reach Airlock. The SDK's listen router never asks the server
 * instance about URIs, so this runs in the route, before the stream opens;
 * it throws the refusal (a ProtocolError) of the first URI refused.
 */
export async function admitListenSubscriptions(
  deps: SessionDeps,
  scope: SessionScope,
  caller: AccessCaller,
  uris: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  if (uris.length === 0) return;
  const router = new Router(deps, scope);
  const owners: [server: string, uri: string][] = [];
  for (const uri of new Set(uris)) {
    const owner = await router.serverForUri(uri, signal);
    checkAccess(deps, caller, { method: 'resources/subscribe', server: owner, resource: uri }, hiddenResource(scope, uri, 'Resource'));
    owners.push([owner, uri]);
  }
  for (const [owner, uri] of owners) {
    const upstream = deps.upstream(owner);
    if (upstream.capabilities?.resources?.subscribe !== true) continue;
    // Never unsubscribed when the stream closes: the upstream connection is shared, and an unsubscribe would end
    // every other client's subscription to the URI too (as a 2025 session's unsubscribe stays in Airlock).
    await upstream.request({ method: 'resources/subscribe', params: { uri } }, EmptyResultSchema, { signal }).catch((err: unknown) => {
      if (err instanceof UpstreamUnavailableError) throw new ProtocolError(-32603, `[UNAVAILABLE] ${err.message}`);
      throw err;
    });
  }
}
