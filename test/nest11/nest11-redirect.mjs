// Module-resolution hook for the Nest 11 run (registered by use-nest11.mjs).
//
// The compiled project code in .build/ would find the root's Nest 12. A Nest app needs one
// instance of each @nestjs package (DI tokens, metadata keys and `instanceof` checks are
// identities), so every import of these packages made by project code is resolved as if it
// were made from this folder, which holds Nest 11. Imports made from inside any node_modules
// (Nest 11's own internals, ws, jsonwebtoken...) resolve normally.

const SHARED_WITH_THE_APP = /^(?:@nestjs\/[^/]+|rxjs|reflect-metadata)(?:\/|$)/;
const repositoryRoot = new URL('../../', import.meta.url).href;
const nest11Anchor = new URL('./package.json', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (SHARED_WITH_THE_APP.test(specifier) && isProjectCode(context.parentURL)) {
    return nextResolve(specifier, { ...context, parentURL: nest11Anchor });
  }
  return nextResolve(specifier, context);
}

function isProjectCode(parentURL) {
  return typeof parentURL === 'string' && parentURL.startsWith(repositoryRoot) && !parentURL.includes('/node_modules/');
}
