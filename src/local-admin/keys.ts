/** Every Redis name the local admin uses, under the configured prefix (`{airlock}:` by default). */
export interface LocalAdminKeys {
  /**
   * `{airlock}:local-admin`: a hash of the SHA-256 (hex) of each gateway's
   * local admin token, one field per source (`<host>:<token file>` or
   * `<host>:AIRLOCK_ADMIN_TOKEN`), for commands that check a token without
   * the gateway's memory.
   */
  digests: string;
}

export function localAdminKeys(prefix: string): LocalAdminKeys {
  return { digests: `${prefix}local-admin` };
}
