// README: Tickets, the browser side.
const body = JSON.stringify({ username: 'alice', password: 'alice' });
const headers = { 'content-type': 'application/json' };

// #region browser
// The browser
const { access_token } = await (await fetch('/auth/login', { method: 'POST', body, headers })).json();
const { ticket } = await (await fetch('/auth/ws-ticket', {
  method: 'POST', headers: { Authorization: `Bearer ${access_token}` },
})).json();
const socket = new WebSocket(`wss://${location.host}/chat?ticket=${ticket}`);
// #endregion
export { socket };
