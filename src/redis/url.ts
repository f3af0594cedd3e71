/**
 * The URL as it may appear in logs and error messages: a password becomes
 * `***`, in the user part or in a `password` query parameter (ioredis reads
 * both); everything else (user, host, port, database) stays, so the operator
 * can tell which Redis is meant. Text that does not parse as a URL has
 * everything between `//` and its last `@` masked, since where its password
 * ends cannot be known.
 */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const start = url.indexOf('//');
    const at = url.lastIndexOf('@');
    return start >= 0 && at > start ? `${url.slice(0, start + 2)}***${url.slice(at)}` : url;
  }
  const queryPasswords = [...parsed.searchParams.keys()].filter((key) => key.toLowerCase() === 'password');
  if (parsed.password === '' && queryPasswords.length === 0) return url;
  if (parsed.password !== '') parsed.password = '***';
  for (const key of queryPasswords) parsed.searchParams.set(key, '***');
  return parsed.toString();
}
