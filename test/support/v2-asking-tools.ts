/**
 * Tools of the v2 fixture server that ask their caller mid-call the 2026 way
 * (an `input_required` result, SEP-2322), each question naming the call's
 * own argument, so a test sees that every client got its own question and
 * its own answer back:
 *
 * - `ask_name {who}` elicits "Which name for <who>?" and answers
 *   `<who> is <name>` (or `<who>: <action>` when declined or cancelled);
 * - `ask_model {topic}` asks for a sampling "Say something about <topic>"
 *   and answers `<topic>: <the model's text>`;
 * - `ask_roots {tag}` asks for roots/list and answers `<tag>: <the root URIs>`;
 * - `ask_twice {who}` elicits twice (two rounds, its own requestState
 *   carrying the first answer) before it answers `<who> is <first> <second>`.
 */
import { fromJsonSchema, inputRequired, inputResponse, type McpServer, type ServerContext } from '@modelcontextprotocol/server';

type Json = Record<string, unknown>;
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
const argument = (name: string) => fromJsonSchema<Json>({ type: 'object', properties: { [name]: { type: 'string' } }, required: [name] });
const nameSchema = { type: 'object' as const, properties: { name: { type: 'string' as const } }, required: ['name'] };

export function registerAskingTools(server: McpServer): void {
  const tool = (name: string, arg: string, run: (value: string, ctx: ServerContext) => unknown) =>
    server.registerTool(name, { description: `Asks its caller about its ${arg}.`, inputSchema: argument(arg) }, (async (
      args: Json,
      ctx: ServerContext,
    ) => run(String(args[arg]), ctx)) as never);

  tool('ask_name', 'who', (who, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'name');
    if (answer.kind === 'elicit')
      return answer.action === 'accept' ? text(`${who} is ${String(answer.content?.name)}`) : text(`${who}: ${answer.action}`);
    return inputRequired({
      inputRequests: { name: inputRequired.elicit({ message: `Which name for ${who}?`, requestedSchema: nameSchema }) },
    });
  });
  tool('ask_model', 'topic', (topic, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'said');
    if (answer.kind === 'sampling') {
      const content = answer.result.content as { type: string; text?: string };
      return text(`${topic}: ${content.text ?? ''}`);
    }
    const ask = inputRequired.createMessage({
      messages: [{ role: 'user', content: { type: 'text', text: `Say something about ${topic}` } }],
      maxTokens: 50,
    });
    return inputRequired({ inputRequests: { said: ask } });
  });
  tool('ask_roots', 'tag', (tag, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'roots');
    if (answer.kind === 'roots') return text(`${tag}: ${answer.roots.map((r) => r.uri).join(' ')}`);
    return inputRequired({ inputRequests: { roots: inputRequired.listRoots() } });
  });
  tool('ask_twice', 'who', (who, ctx) => {
    const first = ctx.mcpReq.requestState();
    const answer = inputResponse(ctx.mcpReq.inputResponses, typeof first === 'string' ? 'second' : 'first');
    const given = answer.kind === 'elicit' && answer.action === 'accept' ? String(answer.content?.name) : undefined;
    if (typeof first === 'string' && given !== undefined) return text(`${who} is ${first} ${given}`);
    if (typeof first !== 'string' && given !== undefined)
      return inputRequired({
        inputRequests: { second: inputRequired.elicit({ message: `Which last name for ${who}?`, requestedSchema: nameSchema }) },
        requestState: given,
      });
    return inputRequired({
      inputRequests: { first: inputRequired.elicit({ message: `Which first name for ${who}?`, requestedSchema: nameSchema }) },
    });
  });
}
