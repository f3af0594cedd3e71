export interface ProgressUpdate {
  progress: number;
  total?: number;
  message?: string;
}

/**
 * Progress notifications for one downstream request. Heartbeats while a call
 * is held and the server's own progress afterwards share one token, and MCP
 * wants its `progress` to increase: the server's values are shifted past the
 * heartbeats already sent.
 */
export interface Progress {
  beat(message: string): void;
  relay(update: ProgressUpdate): void;
}

export function progressFor(send: (update: ProgressUpdate) => void): Progress {
  let beats = 0;
  return {
    beat: (message) => send({ progress: ++beats, message }),
    relay: (update) =>
      send({
        progress: beats + update.progress,
        ...(update.total !== undefined && { total: beats + update.total }),
        ...(update.message !== undefined && { message: update.message }),
      }),
  };
}
