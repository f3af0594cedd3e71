import { Client, type ClientCapabilities, type Transport } from '@modelcontextprotocol/client';
import { ProtocolError } from './errors.js';
import { QUESTION_KINDS, relayQuestion, type Asker, type RelayDeps } from './questions.js';

/**
 * The requests in flight on one upstream connection: a question the
 * connection carries belongs to one of them, and is taken for that one's only
 * when it is the only one and its agent can be asked.
 */
export class AskersInFlight {
  readonly #askers = new Map<Asker | object, number>();
  /** The requests in flight whose agents cannot be asked (a list, a read, a 2026 client that declared nothing): counted all the same. */
  readonly #nobody = new WeakSet<object>();

  /** Counts `asker` in (or, without one, a request whose agent cannot be asked) until the returned function runs. */
  enter(asker?: Asker): () => void {
    const key: Asker | object = asker ?? {};
    if (!asker) this.#nobody.add(key);
    this.#askers.set(key, (this.#askers.get(key) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = this.#askers.get(key)! - 1;
      if (n === 0) this.#askers.delete(key);
      else this.#askers.set(key, n);
    };
  }

  get size(): number {
    return this.#askers.size;
  }

  /** How many of them have agents that can be asked. */
  get askable(): number {
    let n = 0;
    for (const key of this.#askers.keys()) if (!this.#nobody.has(key)) n++;
    return n;
  }

  /** The one asker in flight, if exactly one request is in flight and its agent can be asked. */
  only(): Asker | undefined {
    if (this.#askers.size !== 1) return undefined;
    const key = this.#askers.keys().next().value!;
    return this.#nobody.has(key) ? undefined : (key as Asker);
  }
}

const SHARED_NOTIFICATIONS = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
]);

/** Who a question that arrived on a connection is for: an asker, or why there is none. */
export type QuestionOwner = { asker: Asker } | { unowned: { code: number; message: string } };

/**
 * Has `client` answer its server's questions (sampling, elicitation, roots)
 * by relaying them to the agent `owner` names. The fallback handler, not one
 * per method: the SDK registers a method's handler only for a capability the
 * client declared, and a server that asks without one must still be answered
 * (and audited) by Airlock rather than by the SDK.
 */
export function answerQuestions(
  client: Client,
  deps: RelayDeps,
  declared: ClientCapabilities,
  owner: () => QuestionOwner,
  timeoutMs: number,
): void {
  client.fallbackRequestHandler = async (request, ctx) => {
    if (QUESTION_KINDS[request.method] === undefined) throw new ProtocolError(-32601, 'Method not found');
    const found = owner();
    const question = { method: request.method, ...(request.params && { params: request.params as Record<string, unknown> }) };
    return relayQuestion(deps, question, 'asker' in found ? found.asker : undefined, {
      signal: ctx.mcpReq.signal,
      timeout: timeoutMs,
      declared,
      ...('unowned' in found && { unowned: found.unowned }),
    });
  };
}

/**
 * One downstream session's own connection to a 2025 server, so what the
 * server asks mid-call reaches that session's agent and no other: Airlock
 * declares the agent's capabilities (less what `relay` turns off), and a
 * question goes to the one call in flight on it, or to the session when
 * several are. Made for a session whose agent can answer something, on its
 * first call to the server; closed with the session.
 */
export class SessionLink {
  readonly client: Client;
  readonly calls = new AskersInFlight();
  #open = true;

  private constructor(client: Client) {
    this.client = client;
  }

  static async open(options: {
    transport: Transport;
    capabilities: ClientCapabilities;
    session: Asker;
    relay: RelayDeps;
    clientInfo: { name: string; version: string };
    timeoutMs: number;
  }): Promise<SessionLink> {
    const client = new Client(options.clientInfo, { capabilities: options.capabilities, versionNegotiation: { mode: 'legacy' } });
    const link = new SessionLink(client);
    answerQuestions(
      client,
      options.relay,
      options.capabilities,
      () => ({ asker: link.calls.only() ?? options.session }),
      options.timeoutMs,
    );
    // The shared connection hears the server's list changes and resource updates (subscriptions go over it); the rest is this session's.
    client.fallbackNotificationHandler = async (notification) => {
      if (!SHARED_NOTIFICATIONS.has(notification.method)) options.session.tell?.(notification as never);
    };
    client.onclose = () => {
      link.#open = false;
    };
    try {
      await client.connect(options.transport);
    } catch (err) {
      client.onclose = undefined;
      await client.close().catch(() => undefined);
      throw err;
    }
    return link;
  }

  /** False once the connection closed: the next call makes a new one. */
  get open(): boolean {
    return this.#open;
  }

  /** Ends the server's session (HTTP DELETE, or the stdio process) and the connection. */
  async close(): Promise<void> {
    this.#open = false;
    const transport = this.client.transport as { terminateSession?: () => Promise<void> } | undefined;
    await transport?.terminateSession?.().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }
}
