import { ProtocolErrorCode as JsonRpcError } from '@modelcontextprotocol/server';
import { checkAccess, hiddenResource, type AccessCaller } from './access-check.js';
import { ProtocolError, UpstreamUnavailableError } from './errors.js';
import { MAX_SUBSCRIPTIONS, ResourceSubscriber } from './resource-subscriber.js';
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
 * `signal` is the stream's: it aborts when the stream ends (or is never
 * opened), and the stream's subscriptions are then given back, the server
 * told to stop once no other subscriber of the URI is left.
 */
export async function admitListenSubscriptions(
  deps: SessionDeps,
  scope: SessionScope,
  caller: AccessCaller,
  uris: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  if (uris.length === 0) return;
  const distinct = new Set(uris);
  if (distinct.size > MAX_SUBSCRIPTIONS)
    throw new ProtocolError(
      JsonRpcError.InvalidParams,
      `A listen stream may subscribe to at most ${MAX_SUBSCRIPTIONS} resources; this one asks for ${distinct.size}`,
    );
  const router = new Router(deps, scope);
  const owners: [server: string, uri: string][] = [];
  for (const uri of distinct) {
    const owner = await router.serverForUri(uri, signal);
    checkAccess(deps, caller, { method: 'resources/subscribe', server: owner, resource: uri }, hiddenResource(scope, uri, 'Resource'));
    owners.push([owner, uri]);
  }
  // The stream is one subscriber: what it subscribed to before a later URI failed is given back too, when its answer ends it.
  const stream = new ResourceSubscriber(deps, new Set());
  const release = () => void stream.release();
  signal.addEventListener('abort', release, { once: true });
  try {
    for (const [owner, uri] of owners) {
      if (deps.upstream(owner).capabilities?.resources?.subscribe !== true) continue;
      await stream.subscribe(owner, { uri }, signal).catch((err: unknown) => {
        if (err instanceof UpstreamUnavailableError) throw new ProtocolError(-32603, `[UNAVAILABLE] ${err.message}`);
        throw err;
      });
    }
  } finally {
    // Ended while subscribing: a subscribe counted after the abort (a 2026 server's does not wait on the signal) is given back too.
    if (signal.aborted) release();
  }
}
