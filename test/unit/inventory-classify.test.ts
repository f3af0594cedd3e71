import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Tool } from '@modelcontextprotocol/client';
import { classifyTool, type RiskLevel } from '../../src/inventory/index.js';
import { RISK_CLASSES, type RiskClass } from '../../src/policy/index.js';

/** Real tool lists (test/fixtures/tool-lists/<server>.json, each naming its package and version). */
function toolList(server: string): Tool[] {
  const file = new URL(`../fixtures/tool-lists/${server}.json`, import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { source: string; tools: Tool[] }).tools;
}

/** What each real tool does, as a person reading its name, description and source would put it. */
const EXPECTED: Record<string, Partial<Record<RiskClass, string[]>>> = {
  filesystem: {
    read: [
      'read_file',
      'read_text_file',
      'read_media_file',
      'read_multiple_files',
      'list_directory',
      'list_directory_with_sizes',
      'directory_tree',
      'search_files',
      'get_file_info',
      'list_allowed_directories',
    ],
    write: ['write_file', 'edit_file', 'create_directory', 'move_file'],
  },
  everything: {
    read: [
      'echo',
      'get-annotated-message',
      'get-env',
      'get-resource-links',
      'get-resource-reference',
      'get-structured-content',
      'get-sum',
      'get-tiny-image',
    ],
    write: ['gzip-file-as-resource', 'toggle-simulated-logging', 'toggle-subscriber-updates', 'simulate-research-query'],
    execute: ['trigger-long-running-operation'],
  },
  memory: {
    read: ['read_graph', 'search_nodes', 'open_nodes'],
    write: ['create_entities', 'create_relations', 'add_observations'],
    destructive: ['delete_entities', 'delete_observations', 'delete_relations'],
  },
  github: {
    read: [
      'search_repositories',
      'get_file_contents',
      'list_commits',
      'list_issues',
      'search_code',
      'search_issues',
      'search_users',
      'get_issue',
      'get_pull_request',
      'list_pull_requests',
      'get_pull_request_files',
      'get_pull_request_status',
      'get_pull_request_comments',
      'get_pull_request_reviews',
    ],
    write: [
      'create_or_update_file',
      'create_repository',
      'push_files',
      'create_issue',
      'create_pull_request',
      'fork_repository',
      'create_branch',
      'update_issue',
      'add_issue_comment',
      'create_pull_request_review',
      'merge_pull_request',
      'update_pull_request_branch',
    ],
  },
  gitlab: {
    read: ['search_repositories', 'get_file_contents'],
    write: [
      'create_or_update_file',
      'create_repository',
      'push_files',
      'create_issue',
      'create_merge_request',
      'fork_repository',
      'create_branch',
    ],
  },
  postgres: { read: ['query'] },
  slack: {
    read: ['slack_list_channels', 'slack_get_channel_history', 'slack_get_thread_replies', 'slack_get_users', 'slack_get_user_profile'],
    write: ['slack_post_message', 'slack_reply_to_thread', 'slack_add_reaction'],
  },
  puppeteer: {
    read: ['puppeteer_screenshot'],
    write: ['puppeteer_navigate', 'puppeteer_click', 'puppeteer_fill', 'puppeteer_select', 'puppeteer_hover'],
    execute: ['puppeteer_evaluate'],
  },
  redis: { read: ['get', 'list'], write: ['set'], destructive: ['delete'] },
  'sequential-thinking': { read: ['sequentialthinking'] },
  'desktop-commander': {
    read: [
      'get_config',
      'read_file',
      'read_multiple_files',
      'list_directory',
      'get_more_search_results',
      'list_searches',
      'get_file_info',
      'read_process_output',
      'list_sessions',
      'list_processes',
      'get_usage_stats',
      'get_recent_tool_calls',
      'get_prompts',
    ],
    write: [
      'set_config_value',
      'write_file',
      'write_pdf',
      'create_directory',
      'move_file',
      'edit_block',
      'give_feedback_to_desktop_commander',
    ],
    // Like start_dicom_export_job, starting and stopping background work is execute, even when the work is a search.
    execute: ['start_search', 'stop_search', 'start_process', 'interact_with_process'],
    destructive: ['force_terminate', 'kill_process'],
  },
  playwright: {
    read: [
      'browser_console_messages',
      'browser_find',
      'browser_network_requests',
      'browser_network_request',
      'browser_take_screenshot',
      'browser_snapshot',
      'browser_wait_for',
    ],
    write: [
      'browser_close',
      'browser_resize',
      'browser_handle_dialog',
      'browser_emulate_media',
      'browser_file_upload',
      'browser_drop',
      'browser_fill_form',
      'browser_press_key',
      'browser_type',
      'browser_navigate',
      'browser_navigate_back',
      'browser_click',
      'browser_drag',
      'browser_hover',
      'browser_select_option',
      'browser_tabs',
    ],
    execute: ['browser_evaluate', 'browser_run_code_unsafe'],
  },
  kubernetes: {
    read: ['kubectl_get', 'kubectl_describe', 'kubectl_logs', 'explain_resource', 'list_api_resources', 'ping'],
    write: ['kubectl_apply', 'kubectl_create', 'kubectl_scale', 'kubectl_patch', 'kubectl_context', 'kubectl_reconnect', 'node_management'],
    execute: [
      'kubectl_rollout',
      'install_helm_chart',
      'upgrade_helm_chart',
      'port_forward',
      'stop_port_forward',
      'exec_in_pod',
      'kubectl_generic',
    ],
    destructive: ['cleanup', 'kubectl_delete', 'uninstall_helm_chart'],
  },
  notion: {
    read: [
      'API-get-user',
      'API-get-users',
      'API-get-self',
      'API-post-search',
      'API-get-block-children',
      'API-retrieve-a-block',
      'API-retrieve-a-page',
      'API-retrieve-a-page-property',
      'API-retrieve-a-comment',
      'API-query-data-source',
      'API-retrieve-a-data-source',
      'API-list-data-source-templates',
      'API-retrieve-a-database',
      'API-retrieve-page-markdown',
    ],
    write: [
      'API-patch-block-children',
      'API-update-a-block',
      'API-patch-page',
      'API-post-page',
      'API-create-a-comment',
      'API-update-a-data-source',
      'API-create-a-data-source',
      'API-move-page',
      'API-update-page-markdown',
    ],
    destructive: ['API-delete-a-block'],
  },
};

/** Levels where they carry the point: annotations, free-form arguments, and arguments that only look free-form. */
const LEVELS: Record<string, RiskLevel> = {
  'filesystem/read_text_file': 'low',
  'filesystem/write_file': 'high',
  'filesystem/create_directory': 'medium',
  'memory/delete_entities': 'high',
  'memory/search_nodes': 'low',
  'github/search_code': 'low',
  'github/create_issue': 'medium',
  'postgres/query': 'medium',
  'kubernetes/kubectl_create': 'high',
  'kubernetes/kubectl_rollout': 'high',
  'kubernetes/exec_in_pod': 'critical',
  'kubernetes/kubectl_generic': 'critical',
  'desktop-commander/start_process': 'critical',
  'puppeteer/puppeteer_evaluate': 'critical',
  'playwright/browser_run_code_unsafe': 'critical',
};

/**
 * Where the classifier and a person differ: what it says instead, and why
 * the rule that costs the case is kept. These are tested as they are, so a
 * change that fixes or moves one is seen.
 */
const KNOWN_MISSES: Record<string, { classifiedAs: RiskClass; why: string }> = {
  'notion/API-post-search': {
    classifiedAs: 'write',
    why: 'named after its HTTP method and annotated destructive; the more dangerous reading wins',
  },
  'notion/API-query-data-source': {
    classifiedAs: 'write',
    why: 'annotated destructiveHint: true (it is a POST); the more dangerous reading wins',
  },
  'playwright/browser_drop': {
    classifiedAs: 'destructive',
    why: 'drag-and-drop, but "drop" is destructive in drop_table, so it is read conservatively',
  },
  'kubernetes/port_forward': {
    classifiedAs: 'write',
    why: '"forward" reads as a write; that it starts a background process is in neither name nor description',
  },
};

const cases = Object.entries(EXPECTED).flatMap(([server, classes]) => {
  const tools = new Map(toolList(server).map((tool) => [tool.name, tool]));
  return Object.entries(classes).flatMap(([expected, names]) =>
    names.map((name) => ({ key: `${server}/${name}`, tool: tools.get(name), expected: expected as RiskClass })),
  );
});

for (const c of cases) {
  const level = LEVELS[c.key];
  const miss = KNOWN_MISSES[c.key];
  const title = miss
    ? `${c.key} is ${c.expected}, classified ${miss.classifiedAs}: ${miss.why}`
    : `${c.key} is ${c.expected}${level ? `/${level}` : ''}`;
  test(title, () => {
    assert.ok(c.tool, `${c.key} is not in its fixture`);
    const got = classifyTool(c.tool);
    assert.equal(got.class, miss?.classifiedAs ?? c.expected, got.evidence.join('; '));
    if (level) assert.equal(got.level, level, got.evidence.join('; '));
  });
}

test('the table names every tool in the fixtures, and at least 150 of them', () => {
  const inFixtures = Object.keys(EXPECTED).flatMap((server) => toolList(server).map((tool) => `${server}/${tool.name}`));
  assert.deepEqual(cases.map((c) => c.key).sort(), inFixtures.sort());
  assert.ok(cases.length >= 150, `only ${cases.length} real tools`);
});

test('at least 95% of the real tools get the class a person gives them, and only the known misses differ', (t) => {
  const misses = cases.filter((c) => c.tool && classifyTool(c.tool).class !== c.expected).map((c) => c.key);
  for (const riskClass of RISK_CLASSES) {
    const ofClass = cases.filter((c) => c.expected === riskClass);
    const right = ofClass.filter((c) => !misses.includes(c.key)).length;
    if (ofClass.length > 0) t.diagnostic(`${riskClass}: ${right}/${ofClass.length}`);
  }
  t.diagnostic(`overall: ${cases.length - misses.length}/${cases.length}`);
  assert.deepEqual(misses.sort(), Object.keys(KNOWN_MISSES).sort());
  assert.ok((cases.length - misses.length) / cases.length >= 0.95);
});

/** A tool as a server might send it; the schema defaults to an empty object schema. */
function tool(name: string, rest: Partial<Tool> = {}): Tool {
  return { name, inputSchema: { type: 'object' }, ...rest };
}

interface RuleCase {
  name: string;
  tool: Tool;
  class: RiskClass;
  level?: RiskLevel;
  /** Substrings some evidence line must contain. */
  evidence?: string[];
}

const ruleCases: RuleCase[] = [
  {
    name: 'start_dicom_export_job with no description is execute/high, from the verb start and the noun job',
    tool: tool('start_dicom_export_job', { description: '' }),
    class: 'execute',
    level: 'high',
    evidence: ['verb "start" in the name: execute', 'noun "job" in the name: execute'],
  },
  {
    name: 'camelCase: deleteUser is destructive',
    tool: tool('deleteUser'),
    class: 'destructive',
    level: 'high',
    evidence: ['verb "delete" in the name'],
  },
  { name: 'PascalCase: DeleteUser is destructive', tool: tool('DeleteUser'), class: 'destructive' },
  { name: 'SCREAMING_SNAKE: DROP_TABLE is destructive', tool: tool('DROP_TABLE'), class: 'destructive' },
  { name: 'kebab-case: run-query is execute', tool: tool('run-query'), class: 'execute', evidence: ['verb "run" in the name: execute'] },
  { name: 'dotted: fs.readFile is read', tool: tool('fs.readFile'), class: 'read', level: 'low' },
  { name: 'an acronym before the verb: APIGetUser is read', tool: tool('APIGetUser'), class: 'read' },
  { name: 'an acronym after the verb: getHTTPResponse is read', tool: tool('getHTTPResponse'), class: 'read' },
  {
    name: 'a later strong verb wins: find_and_delete_duplicates is destructive',
    tool: tool('find_and_delete_duplicates'),
    class: 'destructive',
  },
  { name: 'get_or_create_user writes', tool: tool('get_or_create_user'), class: 'write' },
  { name: 'a verb-like noun after the verb does not: get_workflow_run reads', tool: tool('get_workflow_run'), class: 'read' },
  {
    name: 'a noun alone: dicom_export_job is execute',
    tool: tool('dicom_export_job'),
    class: 'execute',
    evidence: ['noun "job" in the name: execute'],
  },
  {
    name: 'no verb in the name: the description decides',
    tool: tool('records', { description: 'Deletes every record older than a date.' }),
    class: 'destructive',
    evidence: ['verb "delete" in the description'],
  },
  {
    name: 'the description is not read past its first sentence',
    tool: tool('records', { description: 'Lists records. Use delete_records to remove them.' }),
    class: 'read',
  },
  {
    name: 'nothing to go on is unknown/medium, never read',
    tool: tool('frobnicate'),
    class: 'unknown',
    level: 'medium',
    evidence: ['unknown'],
  },
  {
    name: 'readOnlyHint true on delete_* is flagged and the name wins',
    tool: tool('delete_user', { annotations: { readOnlyHint: true } }),
    class: 'destructive',
    evidence: [
      'annotation readOnlyHint: true contradicts verb "delete" in the name (destructive): following the more dangerous reading, destructive',
    ],
  },
  {
    name: 'destructiveHint false on purge_* is flagged',
    tool: tool('purge_cache', { annotations: { destructiveHint: false } }),
    class: 'destructive',
    evidence: ['annotation destructiveHint: false contradicts'],
  },
  {
    name: 'readOnlyHint false on a read verb makes it a write',
    tool: tool('get_token', { annotations: { readOnlyHint: false } }),
    class: 'write',
    evidence: ['annotation readOnlyHint: false contradicts verb "get"'],
  },
  {
    name: 'annotations alone: readOnlyHint true is read',
    tool: tool('zzz', { annotations: { readOnlyHint: true } }),
    class: 'read',
    evidence: ['annotation readOnlyHint: true'],
  },
  {
    name: 'annotations alone: destructiveHint true is destructive',
    tool: tool('zzz', { annotations: { destructiveHint: true } }),
    class: 'destructive',
  },
  { name: 'annotations alone: readOnlyHint false is write', tool: tool('zzz', { annotations: { readOnlyHint: false } }), class: 'write' },
  {
    name: 'destructiveHint true raises a write to high',
    tool: tool('update_row', { annotations: { destructiveHint: true } }),
    class: 'write',
    level: 'high',
    evidence: ['annotation destructiveHint: true raises the level to high'],
  },
  {
    name: 'openWorldHint true raises a write to high',
    tool: tool('send_email', { annotations: { openWorldHint: true } }),
    class: 'write',
    level: 'high',
    evidence: ['annotation openWorldHint: true raises the level to high'],
  },
  {
    name: 'openWorldHint true leaves a read low',
    tool: tool('fetch_url', { annotations: { openWorldHint: true } }),
    class: 'read',
    level: 'low',
  },
  {
    name: 'idempotentHint is reported',
    tool: tool('set_flag', { annotations: { idempotentHint: true } }),
    class: 'write',
    evidence: ['annotation idempotentHint: true'],
  },
  {
    name: 'a free-form sql argument raises the level',
    tool: tool('run_sql', { inputSchema: { type: 'object', properties: { sql: { type: 'string' } } } }),
    class: 'execute',
    level: 'critical',
    evidence: ['free-form argument "sql" raises the level'],
  },
  {
    name: 'a command given as an array of strings is free-form',
    tool: tool('exec', { inputSchema: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } } } } }),
    class: 'execute',
    level: 'critical',
  },
  {
    name: 'a free-form argument alone makes an unknown tool execute',
    tool: tool('zzz', { inputSchema: { type: 'object', properties: { script: { type: 'string' } } } }),
    class: 'execute',
    level: 'critical',
    evidence: ['free-form argument "script" and no verb: execute'],
  },
  {
    name: 'a query in a query language is free-form',
    tool: tool('search_logs', { inputSchema: { type: 'object', properties: { query: { type: 'string', description: 'A KQL query' } } } }),
    class: 'read',
    level: 'medium',
  },
  {
    name: 'a query of search text is not',
    tool: tool('search_docs', {
      inputSchema: { type: 'object', properties: { query: { type: 'string', description: 'Words to look for' } } },
    }),
    class: 'read',
    level: 'low',
  },
  {
    name: 'a command limited by enum is not free-form',
    tool: tool('run_task', { inputSchema: { type: 'object', properties: { command: { type: 'string', enum: ['a', 'b'] } } } }),
    class: 'execute',
    level: 'high',
  },
  {
    name: 'country_code is not code, js_code is',
    tool: tool('update_profile', {
      inputSchema: { type: 'object', properties: { country_code: { type: 'string' }, js_code: { type: 'string' } } },
    }),
    class: 'write',
    level: 'high',
    evidence: ['free-form argument "js_code"'],
  },
  {
    name: 'a numeric command is not free-form',
    tool: tool('set_mode', { inputSchema: { type: 'object', properties: { command: { type: 'integer' } } } }),
    class: 'write',
    level: 'medium',
  },
];

for (const c of ruleCases) {
  test(c.name, () => {
    const got = classifyTool(c.tool);
    assert.equal(got.class, c.class, got.evidence.join('; '));
    if (c.level) assert.equal(got.level, c.level, got.evidence.join('; '));
    for (const part of c.evidence ?? [])
      assert.ok(
        got.evidence.some((line) => line.includes(part)),
        `no evidence line contains ${JSON.stringify(part)}: ${got.evidence.join('; ')}`,
      );
  });
}

/** Built as `unknown` and cast: these are what a misbehaving upstream could send, not what the type allows. */
function nested(depth: number): unknown {
  let schema: unknown = { type: 'string' };
  for (let i = 0; i < depth; i++) schema = { type: 'array', items: schema };
  return schema;
}

const badInputs: { name: string; tool: unknown; class: RiskClass; evidence?: string }[] = [
  {
    name: 'a 1 MB description is cut, and what lies past the cut is not read',
    tool: tool('list_rows', { description: `Lists rows.${' x'.repeat(500_000)} delete` }),
    class: 'read',
    evidence: 'characters long; only the first 4000 were read',
  },
  {
    name: 'a 100,000-character name is cut',
    tool: tool('a'.repeat(100_000)),
    class: 'unknown',
    evidence: 'name is 100000 characters long; only the first 200 were read',
  },
  { name: 'an empty name and description', tool: tool('', { description: '' }), class: 'unknown' },
  { name: 'a name in Japanese', tool: tool('データを削除する'), class: 'unknown' },
  { name: 'a name in Cyrillic', tool: tool('удалить_файл'), class: 'unknown' },
  { name: 'a name in Arabic', tool: tool('حذف_الملف'), class: 'unknown' },
  { name: 'emoji around a verb', tool: tool('🔥delete🔥'), class: 'destructive' },
  { name: 'emoji only', tool: tool('🚀🚀'), class: 'unknown' },
  { name: 'a verb beside another script', tool: tool('get_データ'), class: 'read' },
  { name: 'a bidirectional override in the name', tool: tool('list\u202eeteled'), class: 'read' },
  {
    name: 'an input schema that is a string',
    tool: tool('run_it', { inputSchema: 'object' as never }),
    class: 'execute',
    evidence: 'input schema is a string, not an object',
  },
  {
    name: 'an input schema that is null',
    tool: tool('get_it', { inputSchema: null as never }),
    class: 'read',
    evidence: 'input schema is null',
  },
  {
    name: 'an input schema that is an array',
    tool: tool('get_it', { inputSchema: [] as never }),
    class: 'read',
    evidence: 'input schema is an array',
  },
  {
    name: 'properties that are not an object',
    tool: tool('get_it', { inputSchema: { type: 'object', properties: 'command' as never } }),
    class: 'read',
    evidence: 'input schema "properties" is a string',
  },
  {
    name: 'a property schema that is true accepts a command',
    tool: tool('zzz', { inputSchema: { type: 'object', properties: { command: true as never } } }),
    class: 'execute',
  },
  {
    name: 'a property schema nested 10,000 deep',
    tool: tool('get_it', { inputSchema: { type: 'object', properties: { command: nested(10_000) as never } } }),
    class: 'read',
  },
  { name: 'a name that is a number', tool: { name: 42, inputSchema: { type: 'object' } }, class: 'unknown' },
  { name: 'annotations that are a string', tool: tool('zzz', { annotations: 'readOnly' as never }), class: 'unknown' },
  {
    name: 'a readOnlyHint that is the string "true" is ignored',
    tool: tool('zzz', { annotations: { readOnlyHint: 'true' as never } }),
    class: 'unknown',
  },
  { name: 'no tool at all', tool: null, class: 'unknown' },
];

for (const c of badInputs) {
  test(`bad input: ${c.name}`, () => {
    const got = classifyTool(c.tool as Tool);
    assert.equal(got.class, c.class, got.evidence.join('; '));
    assert.ok(
      got.evidence.every((line) => line.length <= 300),
      'evidence lines stay short',
    );
    if (c.evidence)
      assert.ok(
        got.evidence.some((line) => line.includes(c.evidence ?? '')),
        got.evidence.join('; '),
      );
  });
}
