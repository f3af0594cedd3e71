import { SERVER_INFO_META_KEY } from '@modelcontextprotocol/server';

/**
 * A result as an upstream sent it, less what speaks for the upstream rather
 * than for Airlock: its cache hints (`ttlMs`, `cacheScope`: a `public` there
 * would let a shared cache hand one grant's filtered view to another),
 * `resultType`, and its `serverInfo`. The SDK lets a handler's own fields win
 * over the server's `cacheHints`, on both generations, so they must go before
 * the result is returned. The same object comes back when there is nothing
 * to remove.
 */
export function withoutUpstreamHints<T extends object>(result: T): T {
  const fields = result as Record<string, unknown>;
  const meta = fields._meta as Record<string, unknown> | undefined;
  const metaHasInfo = meta !== undefined && SERVER_INFO_META_KEY in meta;
  if (!('ttlMs' in fields) && !('cacheScope' in fields) && !('resultType' in fields) && !metaHasInfo) return result;
  const { ttlMs: _ttl, cacheScope: _scope, resultType: _type, ...rest } = fields;
  if (metaHasInfo) {
    const { [SERVER_INFO_META_KEY]: _info, ...otherMeta } = meta;
    if (Object.keys(otherMeta).length > 0) rest._meta = otherMeta;
    else delete rest._meta;
  }
  return rest as T;
}
