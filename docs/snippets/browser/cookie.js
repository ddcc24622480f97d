// README: Credential sources, the cookie.
const form = new FormData(/** @type {HTMLFormElement} */ (document.querySelector('form#login')));
const username = form.get('username'), password = form.get('password');

// #region cookie
await fetch('/auth/login', { method: 'POST', body: JSON.stringify({ username, password }),
  headers: { 'content-type': 'application/json' } });
const socket = new WebSocket(`wss://${location.host}/chat`);
// #endregion
export { socket };
