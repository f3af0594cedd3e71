import type { LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import type { Channel, ChannelCheck, ChannelContext, ChannelKind, RuleDestination } from './channel.js';
import { ChannelSet } from './channel-set.js';
import { consoleChannel } from './console/console-kind.js';
import { slackChannel } from './slack/index.js';

/**
 * The kinds of channel a process can open, by the name `approvals.channels`
 * lists them under. The gateway and the CLI reach channels only through
 * here, so a new channel is its kind registered here plus its section of
 * the config schema.
 */
export class ChannelRegistry {
  readonly #kinds = new Map<string, ChannelKind>();

  constructor(kinds: readonly ChannelKind[] = []) {
    for (const kind of kinds) this.register(kind);
  }

  register(kind: ChannelKind): this {
    if (this.#kinds.has(kind.kind)) throw new Error(`a channel kind named ${kind.kind} is registered already`);
    this.#kinds.set(kind.kind, kind);
    return this;
  }

  /** The names a config may list, for `loadConfig`'s check of `approvals.channels`. */
  get names(): string[] {
    return [...this.#kinds.keys()];
  }

  /** Refuses, before anything is opened, a process some listed channel could not work in. */
  checkProcess(config: LoadedConfig, process: { http: boolean }): void {
    for (const kind of this.#listed(config)) kind.checkProcess?.(config, process);
  }

  /** Opens every listed channel, in the order listed; should one fail, those opened before it are closed. */
  async open(context: ChannelContext): Promise<ChannelSet> {
    const opened: Channel[] = [];
    try {
      for (const kind of this.#listed(context.config)) opened.push(await kind.open(context));
    } catch (err) {
      await new ChannelSet(opened, context.approvals, context.logger).close();
      throw err;
    }
    return new ChannelSet(opened, context.approvals, context.logger);
  }

  /** What `airlock doctor` checks of each listed channel, in the order listed. */
  async doctor(config: LoadedConfig, rules: readonly RuleDestination[]): Promise<ChannelCheck[]> {
    const checks = await Promise.all(this.#listed(config).map((kind) => kind.doctor?.(config, rules) ?? []));
    return checks.flat();
  }

  #listed(config: LoadedConfig): ChannelKind[] {
    return config.approvals.channels.map((name) => {
      const kind = this.#kinds.get(name);
      if (kind === undefined)
        throw new AirlockError(
          ErrorCode.ConfigInvalid,
          `${config.file}: approvals.channels: no channel kind is named "${name}" (known: ${this.names.join(', ')})`,
        );
      return kind;
    });
  }
}

/** The channels Airlock ships: Slack and the console. */
export function builtInChannels(): ChannelRegistry {
  return new ChannelRegistry([slackChannel, consoleChannel]);
}
