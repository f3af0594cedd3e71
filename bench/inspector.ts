/**
 * The V8 inspector of a child started with `--inspect=127.0.0.1:PORT`: a
 * full GC before reading its RSS (so a figure is what it keeps, not what it
 * has not collected yet), its heap use, and heap snapshots to see what it
 * keeps. Node 20 has no WebSocket of its own, hence `ws`.
 */
import { createWriteStream } from 'node:fs';
import WebSocket from 'ws';

interface Reply {
  id?: number;
  method?: string;
  params?: { chunk?: string };
  result?: { result?: { value?: unknown } };
  error?: { message: string };
}

export class Inspector {
  readonly #socket: WebSocket;
  readonly #waiting = new Map<number, (reply: Reply) => void>();
  #onEvent: (reply: Reply) => void = () => undefined;
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data: Buffer) => {
      const reply = JSON.parse(data.toString()) as Reply;
      if (reply.id === undefined) this.#onEvent(reply);
      else this.#waiting.get(reply.id)?.(reply);
    });
  }

  /** Connects to the inspector listening on `port` (the child's only target). */
  static async connect(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (url === undefined) throw new Error(`no inspector target on port ${port}`);
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return new Inspector(socket);
  }

  async send(method: string, params: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.#nextId++;
    const reply = new Promise<Reply>((resolve) => this.#waiting.set(id, resolve));
    this.#socket.send(JSON.stringify({ id, method, params }));
    const answer = await reply;
    this.#waiting.delete(id);
    if (answer.error) throw new Error(`${method}: ${answer.error.message}`);
    return answer;
  }

  /** Two full collections: the second frees what the first's finalizers let go. */
  async collectGarbage(): Promise<void> {
    await this.send('HeapProfiler.collectGarbage');
    await this.send('HeapProfiler.collectGarbage');
  }

  /** The child's `process.memoryUsage()`, in MB. */
  async memoryMb(): Promise<{ heapUsed: number; external: number; arrayBuffers: number }> {
    const reply = await this.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const usage = JSON.parse(String(reply.result?.result?.value)) as Record<string, number>;
    const mb = (bytes: number | undefined) => (bytes ?? Number.NaN) / 1024 / 1024;
    return { heapUsed: mb(usage.heapUsed), external: mb(usage.external), arrayBuffers: mb(usage.arrayBuffers) };
  }

  /** Writes a heap snapshot (open it in Chrome DevTools' Memory tab) to `file`. */
  async heapSnapshot(file: string): Promise<void> {
    const out = createWriteStream(file);
    this.#onEvent = (event) => {
      if (event.method === 'HeapProfiler.addHeapSnapshotChunk') out.write(event.params?.chunk ?? '');
    };
    try {
      await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    } finally {
      this.#onEvent = () => undefined;
      await new Promise((resolve) => out.end(resolve));
    }
  }

  close(): void {
    this.#socket.close();
  }
}
