import { SERVER_INFO_META_KEY } from '@modelcontextprotocol/server';

/**
 * A result read from an upstream, without what belongs to that one hop: a
 * 2026 server's cache hints (`ttlMs`, `cacheScope`: a `public` hint passed
 * on would let a shared cache serve one grant's view to another),
 * `resultType`, and its identity in `_meta`. The SDK lets a handler's own
 * fields win over the server's `cacheHints`, on both generations, so they
 * must go before a result is returned; Airlock states its own hints for what
 * it serves. Other `_meta` keys stay. The original is never changed, and
 * comes back as it is when there is nothing to remove (every 2025 result).
 */
export function forwardedResult<T>(result: T): T {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return result;
  const fields = result as Record<string, unknown>;
  const meta = fields._meta;
  const metaHasInfo = meta !== null && typeof meta === 'object' && SERVER_INFO_META_KEY in meta;
  if (!('ttlMs' in fields) && !('cacheScope' in fields) && !('resultType' in fields) && !metaHasInfo) return result;
  const { ttlMs: _ttl, cacheScope: _scope, resultType: _type, ...rest } = fields;
  if (metaHasInfo) {
    const { [SERVER_INFO_META_KEY]: _info, ...others } = meta as Record<string, unknown>;
    if (Object.keys(others).length === 0) delete rest._meta;
    else rest._meta = others;
  }
  return rest as T;
}
