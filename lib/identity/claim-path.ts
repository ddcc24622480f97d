/**
 * Reads a dotted path through own properties only, so a `__proto__` or `constructor`
 * claim can never be reached through the prototype chain.
 */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  // The usual path is one claim name (`roles`): no array to split it into.
  if (!path.includes('.')) return typeof claims === 'object' && claims !== null && Object.hasOwn(claims, path) ? claims[path] : undefined;
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Roles as an array of strings, from an array claim or an OAuth `scope` string. */
export function readRoles(claims: Readonly<Record<string, unknown>>, path: string): string[] {
  const value = readClaim(claims, path);
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((role): role is string => typeof role === 'string');
  return [];
}
