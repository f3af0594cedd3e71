/** Where a 2026 server names itself in a result's `_meta`. */
const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';

/**
 * A result read from an upstream, without what belongs to that one hop: a
 * 2026 server's cache hints (`ttlMs`, `cacheScope`: a `public` hint passed
 * on would let a shared cache serve one grant's view to another),
 * `resultType`, and its identity in `_meta`. Airlock states its own hints
 * for what it serves. Returns a copy; other `_meta` keys stay.
 */
export function forwardedResult<T>(result: T): T {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return result;
  const { ttlMs: _ttl, cacheScope: _scope, resultType: _type, ...rest } = result as Record<string, unknown>;
  const meta = rest._meta;
  if (meta !== null && typeof meta === 'object' && SERVER_INFO_KEY in meta) {
    const { [SERVER_INFO_KEY]: _info, ...others } = meta as Record<string, unknown>;
    if (Object.keys(others).length === 0) delete rest._meta;
    else rest._meta = others;
  }
  return rest as T;
}
