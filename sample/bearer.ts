/** The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1), if that is what it holds. */
export function bearerOf(authorization: string | undefined): string | undefined {
  return /^bearer[ \t]+(\S+)$/i.exec(authorization ?? '')?.[1];
}
