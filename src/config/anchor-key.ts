import { AirlockError, ErrorCode } from '../errors.js';
import { MIN_ANCHOR_KEY_LENGTH } from './schema.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The anchor key from the environment variable `name` (`airlock audit
 * verify --anchor-key-env NAME`), held to the same rules as
 * `audit.anchor_key`. Messages name the variable, never its value.
 */
export function anchorKeyFromEnv(env: NodeJS.ProcessEnv, name: string): string {
  if (!ENV_NAME.test(name))
    throw new AirlockError(
      ErrorCode.BadArguments,
      `--anchor-key-env ${JSON.stringify(name)}: expected the name of an environment variable (letters, digits, _)`,
    );
  const value = env[name];
  if (value === undefined || value === '')
    throw new AirlockError(
      ErrorCode.BadArguments,
      `--anchor-key-env ${name}: the environment variable ${name} is not set; export it with the anchor key the gateways use (audit.anchor_key)`,
    );
  if (value.length < MIN_ANCHOR_KEY_LENGTH)
    throw new AirlockError(
      ErrorCode.BadArguments,
      `--anchor-key-env ${name}: the key in ${name} is too short (an anchor key has at least ${MIN_ANCHOR_KEY_LENGTH} characters); it is not shown here`,
    );
  return value;
}
