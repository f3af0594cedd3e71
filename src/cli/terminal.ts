import { createInterface } from 'node:readline';

/** The person at the keyboard, for a command that must ask them before it acts. */
export interface Terminal {
  /** Both stdin and stdout are a terminal: there is a person to ask, and they see what they are asked about. */
  readonly interactive: boolean;
  /** Asks for one line; undefined when input ends (Ctrl-D) or on Ctrl-C. */
  ask(question: string): Promise<string | undefined>;
}

/** This process's terminal. */
export function processTerminal(): Terminal {
  return {
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
    ask: (question) =>
      new Promise((resolve) => {
        const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
        let answer: string | undefined;
        rl.once('line', (line) => {
          answer = line;
          rl.close();
        });
        // Ctrl-C at the prompt cancels, as typing anything else would, rather than killing the command mid-way.
        rl.once('SIGINT', () => {
          process.stdout.write('\n');
          rl.close();
        });
        rl.once('close', () => resolve(answer));
        rl.setPrompt(question);
        rl.prompt();
      }),
  };
}
