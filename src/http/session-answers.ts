import { waitingConnection } from '../redis/index.js';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';

/**
 * Where an agent's answer to a question Airlock asked it (a server's
 * sampling, elicitation or roots request, relayed on the agent's 2025
 * session) goes when the agent POSTs it to another instance than the one that
 * asked: every instance may hold a copy of the session, and only the asker's
 * Server waits for that answer.
 *
 * So a question leaves with an id that names its instance
 * (`airlock:<instance>:n5`), which also keeps two copies' questions from
 * sharing an id (each Server counts from 0). An answer carrying this
 * instance's tag gets its own id back and is served here; one carrying
 * another's is published to that instance, which hands it to its copy of the
 * session; an answer to no question of Airlock's is left as it is.
 */
export class SessionAnswers {
  readonly #instance = randomUUID();
  readonly #redis: Redis;
  readonly #channelPrefix: string;
  #stop: (() => void) | undefined;

  private constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#channelPrefix = `${prefix}session-answers:`;
  }

  /** Listens for answers forwarded here; `deliver` hands one to this instance's copy of its session, if it still holds one. */
  static async start(redis: Redis, prefix: string, deliver: (session: string, message: JSONRPCMessage) => void): Promise<SessionAnswers> {
    const answers = new SessionAnswers(redis, prefix);
    const subscriber = waitingConnection(redis);
    subscriber.on('message', (_channel: string, text: string) => {
      const forwarded = parseForwarded(text);
      if (!forwarded) return;
      const message = answers.#own(forwarded.message);
      if (message) deliver(forwarded.session, message);
    });
    await subscriber.subscribe(answers.#channel(answers.#instance));
    answers.#stop = () => subscriber.disconnect();
    return answers;
  }

  /** A message the session sends its agent, with the id of a request (a question) tagged as this instance's. */
  outgoing(message: JSONRPCMessage): JSONRPCMessage {
    if (!('method' in message) || !('id' in message)) return message;
    return { ...message, id: `${this.#tag(this.#instance)}${typeof message.id === 'number' ? 'n' : 's'}${message.id}` };
  }

  /**
   * A POST's body as this instance serves it: answers to its own questions
   * with their ids back, answers to another instance's sent there (and left
   * out). Undefined when nothing is left to serve here.
   */
  async incoming(session: string, body: unknown): Promise<unknown> {
    const messages = Array.isArray(body) ? body : [body];
    const kept: unknown[] = [];
    for (const message of messages) {
      const owner = answerOwner(message);
      if (owner === undefined) {
        kept.push(message);
      } else if (owner === this.#instance) {
        kept.push(this.#own(message as JSONRPCMessage));
      } else {
        await this.#redis.publish(this.#channel(owner), JSON.stringify({ session, message }));
      }
    }
    if (kept.length === messages.length && kept.every((m, i) => m === messages[i])) return body;
    if (kept.length === 0) return undefined;
    return Array.isArray(body) ? kept : kept[0];
  }

  close(): void {
    this.#stop?.();
  }

  /** An answer to one of this instance's questions with the id its Server gave, or undefined for any other message. */
  #own(message: JSONRPCMessage): JSONRPCMessage | undefined {
    if (!isAnswer(message) || typeof message.id !== 'string' || !message.id.startsWith(this.#tag(this.#instance))) return undefined;
    const rest = message.id.slice(this.#tag(this.#instance).length);
    const id = rest.startsWith('n') ? Number(rest.slice(1)) : rest.slice(1);
    return { ...message, id } as JSONRPCMessage;
  }

  #tag(instance: string): string {
    return `airlock:${instance}:`;
  }

  #channel(instance: string): string {
    return `${this.#channelPrefix}${instance}`;
  }
}

const TAGGED = /^airlock:([0-9a-f-]{36}):[ns]/;

function isAnswer(message: unknown): message is JSONRPCMessage & { id: string | number } {
  if (typeof message !== 'object' || message === null || 'method' in message) return false;
  return 'id' in message && ('result' in message || 'error' in message);
}

/** The instance whose question `message` answers, or undefined when it is not such an answer. */
function answerOwner(message: unknown): string | undefined {
  if (!isAnswer(message) || typeof message.id !== 'string') return undefined;
  return TAGGED.exec(message.id)?.[1];
}

function parseForwarded(text: string): { session: string; message: JSONRPCMessage } | undefined {
  try {
    const parsed = JSON.parse(text) as { session?: unknown; message?: unknown };
    if (typeof parsed.session !== 'string' || !isAnswer(parsed.message)) return undefined;
    return { session: parsed.session, message: parsed.message };
  } catch {
    return undefined;
  }
}
