import { RefusalSampler, type AuditInput, type AuditRecorder } from '../audit/index.js';
import { capText, MAX_NAME_CHARS } from '../cap-text.js';

/** The events a call refused before anything ran ends with: an agent can repeat these as fast as it likes (a pending call's repeats too). */
export type RefusalEvent = 'denied' | 'hidden' | 'rate_limited' | 'approval_pending';

/** A summary lists this many of the tools it counted; the count covers them all. */
const TOOLS_NAMED = 5;

interface Pending {
  template: Pick<AuditInput, 'event' | 'grant' | 'server' | 'rule' | 'decision' | 'method'>;
  tools: Set<string>;
}

/**
 * A refusal costs the agent nothing, so audited one by one a runaway loop
 * (or a hostile agent) would grow the trail, and Redis, at its own rate. Of
 * each kind — one grant's calls (or resource and prompt requests) refused
 * the same way (event, server, rule, method) —
 * the first each minute is audited in full; the rest are counted, and one
 * summary event at the window's end (or at shutdown) says how many there
 * were, when, and which tools. Metrics still count every call.
 */
export class SampledRefusals {
  readonly #audit: AuditRecorder;
  readonly #sampler: RefusalSampler<string>;
  readonly #pending = new Map<string, Pending>();
  readonly #windowMs: number;

  /** `windowMs`: of each kind, the first refusal in a window this long is audited in full; 0 audits every one. */
  constructor(audit: AuditRecorder, options: { windowMs: number; now?: () => number }) {
    this.#audit = audit;
    this.#windowMs = options.windowMs;
    this.#sampler = new RefusalSampler<string>({
      windowMs: options.windowMs,
      now: options.now ?? Date.now,
      summarize: (kind, count, from, to) => this.#summarize(kind, count, from, to),
    });
  }

  /** Audits `input` when it is the first of its kind in the window (and says so), else counts it for the summary. */
  record(input: AuditInput & { event: RefusalEvent }): boolean {
    if (this.#windowMs === 0) {
      this.#audit.record(input);
      return true;
    }
    const kind = JSON.stringify([input.grant ?? null, input.event, input.server ?? null, input.rule ?? null, input.method ?? null]);
    if (this.#sampler.admit(kind)) {
      this.#audit.record(input);
      return true;
    }
    let pending = this.#pending.get(kind);
    if (pending === undefined) {
      pending = {
        template: {
          event: input.event,
          grant: input.grant ?? null,
          server: input.server,
          rule: input.rule,
          decision: input.decision,
          ...(input.method !== undefined && { method: input.method }),
        },
        tools: new Set(),
      };
      this.#pending.set(kind, pending);
    }
    const name = input.tool ?? input.resource ?? input.prompt;
    if (name !== undefined && pending.tools.size < TOOLS_NAMED) pending.tools.add(capText(name, MAX_NAME_CHARS));
    return false;
  }

  /** Writes every pending summary now (the gateway is stopping). */
  flush(): void {
    this.#sampler.flush();
  }

  #summarize(kind: string, count: number, from: number, to: number): void {
    const pending = this.#pending.get(kind);
    this.#pending.delete(kind);
    if (pending === undefined) return;
    const { template, tools } = pending;
    const calls = template.method === undefined ? `call${count === 1 ? '' : 's'}` : `${template.method} request${count === 1 ? '' : 's'}`;
    const what = `${count} more ${calls} ${describeEvent(template.event)} the same way (grant ${template.grant ?? '(none)'}, rule ${template.rule ?? '(none)'})`;
    this.#audit.record({
      ...template,
      reason: `${what} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not audited one by one: of each kind of refusal, the first of each minute is`,
      detail: `${template.method === undefined ? 'tools' : 'names'}: ${[...tools].join(', ')}${tools.size === TOOLS_NAMED ? ', …' : ''}`,
    });
  }
}

function describeEvent(event: AuditInput['event']): string {
  return event === 'rate_limited' ? 'refused by a rate limit' : event === 'hidden' ? 'for something hidden answered as unknown' : 'denied';
}
