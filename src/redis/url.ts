/**
 * The URL as it may appear in logs and error messages: a password becomes
 * `***`, everything else (user, host, port, database) stays, so the operator
 * can tell which Redis is meant. Text that is not a URL is returned as is.
 */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.toString();
}
