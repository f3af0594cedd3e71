/**
 * The words the classifier recognises. A tool name usually starts with a
 * verb (`get_issue`), sometimes after a namespace (`slack_post_message`,
 * `API-patch-page`), so every word of a name is looked up here.
 */

export type VerbClass = 'read' | 'write' | 'execute' | 'destructive';

const words = (text: string): string[] => text.trim().split(/\s+/);

const READ_VERBS = words(`
  get list read search find fetch query describe show view lookup retrieve inspect count explain echo ping
  browse peek preview watch tail screenshot snapshot capture analyze analyse summarize summarise compare diff
  validate verify check calculate compute estimate parse resolve translate return open whoami
`);

// UI verbs (click, type, select…) are writes: in a browser they change what the page submits.
const WRITE_VERBS = words(`
  create add insert update edit modify set put post patch write save store upload push send reply publish
  comment merge fork move rename copy clone apply append assign toggle enable disable configure change replace
  upsert import fill type click press select hover drag navigate resize emulate scale close approve reject
  invite share mark tag label unlock lock star follow subscribe unsubscribe transfer register connect reconnect
  sync commit cancel forward handle manage grant revoke archive restore init initialize setup login logout
  book reserve order pay refund
`);

const EXECUTE_VERBS = words(`
  run exec execute start launch trigger invoke evaluate eval spawn stop restart reboot deploy install upgrade
  rollout rollback submit dispatch schedule compile build
`);

// Verbs that remove or irreversibly overwrite: a policy should not let an agent use them unattended.
const DESTRUCTIVE_VERBS = words(`
  delete remove drop destroy purge wipe erase truncate kill terminate uninstall cleanup clean clear flush reset
  prune unlink rm del discard shred nuke deprovision decommission overwrite trash
`);

export const VERBS: ReadonlyMap<string, VerbClass> = new Map<string, VerbClass>([
  ...READ_VERBS.map((w) => [w, 'read'] as const),
  ...WRITE_VERBS.map((w) => [w, 'write'] as const),
  ...EXECUTE_VERBS.map((w) => [w, 'execute'] as const),
  ...DESTRUCTIVE_VERBS.map((w) => [w, 'destructive'] as const),
]);

/**
 * Verbs that are seldom nouns, so they count even after the first verb:
 * `get_or_create_user` writes and `find_and_delete_duplicates` destroys.
 * Words such as `run`, `post` or `type` are left out: `get_workflow_run`
 * and `get_post` only read.
 */
export const STRONG_VERBS: ReadonlySet<string> = new Set(
  words(
    `create insert upsert update modify replace overwrite exec execute delete remove destroy purge wipe erase truncate kill terminate uninstall`,
  ),
);

/** Nouns that name something that runs: with no verb, `dicom_export_job` still starts work. */
export const EXECUTE_NOUNS: ReadonlySet<string> = new Set(
  words(
    `job jobs process processes pipeline pipelines workflow workflows script scripts command commands shell terminal bash cmd repl subprocess macro lambda cron`,
  ),
);

/**
 * An argument whose name ends in one of these holds code or a command line
 * rather than data. `shell` is not one: alone it names which shell runs the command.
 */
export const CODE_ARGUMENT_WORDS: ReadonlySet<string> = new Set(
  words(`command commands cmd script scripts sql statement statements expression expr snippet eval`),
);

/** These are code only alone or after a language word: `code` and `js_code` are, `country_code` is not. */
export const AMBIGUOUS_CODE_WORDS: ReadonlySet<string> = new Set(words(`code function program`));

export const CODE_QUALIFIERS: ReadonlySet<string> = new Set(words(`source sql bash shell powershell javascript js python typescript ts`));

/** Words that turn a `query` argument into a query language rather than search text. */
export const QUERY_LANGUAGES = /\b(sql|cypher|graphql|gremlin|sparql|promql|logql|kql|jql|hql)\b/i;
