import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import type { HttpSession } from './local-session.js';
import type { SessionRecord } from './session-store.js';

/**
 * Brings a fresh local session (whose transport's id is the recorded one) to
 * where the session stood: its Server is told the client's recorded
 * `initialize`, so it knows the client's capabilities, info and protocol
 * version; then the recorded log level and resource subscriptions are asked
 * for again, through the session's own handlers, so the policy checks them
 * as it would the client's requests and this instance's upstreams send
 * their updates here too. None of the answers reach the client; only the
 * subscriptions and the log level reach an upstream, as they must for the
 * session to get what it asked for.
 */
export async function rebuildSession(session: HttpSession, record: SessionRecord): Promise<void> {
  await session.server.connect(session.transport);
  const replay = (message: JSONRPCMessage) => session.transport.replay(record.path, message);
  await replay({ jsonrpc: '2.0', id: REPLAY_ID, method: 'initialize', params: record.initialize });
  await replay({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const { logLevel, subscriptions } = record.state;
  await Promise.all([
    ...(logLevel === undefined
      ? []
      : [replay({ jsonrpc: '2.0', id: `${REPLAY_ID}-level`, method: 'logging/setLevel', params: { level: logLevel } })]),
    ...subscriptions.map((key, i) =>
      replay({
        jsonrpc: '2.0',
        id: `${REPLAY_ID}-subscribe-${i}`,
        method: 'resources/subscribe',
        params: { uri: key.slice(key.indexOf('\n') + 1) },
      }),
    ),
  ]);
}

/** The id of the replayed requests: the session has no other requests yet, so it cannot clash with one of the client's. */
const REPLAY_ID = 'airlock-rebuild';
