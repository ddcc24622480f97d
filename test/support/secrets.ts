import assert from 'node:assert/strict';

/** Every credential a test handled, to search answers, frames and logs for. */
export class Secrets {
  readonly all: string[] = [];

  /** Remembers the secrets (undefined ones are skipped); returns the first, for inline use. */
  add<T extends string | undefined>(secret: T, ...more: Array<string | undefined>): T {
    for (const one of [secret, ...more]) if (one) this.all.push(one);
    return secret;
  }

  assertAbsentFrom(text: string, where: string): void {
    for (const secret of this.all) assert.ok(!text.includes(secret), `a credential appeared in ${where}`);
  }
}
