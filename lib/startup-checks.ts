/** Options that cannot be safe stop the app at startup, with a message that names the option. */
export function failStartup(message: string): never {
  throw new Error(`WsAuthModule: ${message}`);
}

/** An RFC 9110 token: what a header, cookie or query name may be, so never a pattern. */
export const TOKEN_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
