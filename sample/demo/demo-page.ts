// One static page, no build step: the browser imports the client helper as an ES module.
export const demoPage = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nestjs-ws-auth demo</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 12px 20px; }
  header h1 { font-size: 18px; margin: 0; }
  main { display: grid; grid-template-columns: 320px 1fr; gap: 16px; padding: 16px 20px; }
  section { background: #fff; border-radius: 8px; padding: 14px; box-shadow: 0 1px 2px #0001; }
  h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: #5b6475; margin: 0 0 10px; }
  label { display: block; margin: 6px 0; }
  input, select, button { font: inherit; padding: 6px 8px; }
  input, select { width: 100%; box-sizing: border-box; }
  button { margin-top: 8px; cursor: pointer; }
  #state { font-weight: 600; }
  .state-open { color: #137333; } .state-stopped { color: #b3261e; } .state-reconnecting, .state-connecting, .state-authenticating { color: #b06000; }
  ul { list-style: none; padding: 0; margin: 0; max-height: 320px; overflow: auto; font-family: ui-monospace, monospace; font-size: 13px; }
  li { padding: 3px 0; border-bottom: 1px solid #eee; }
  #who { font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<header><h1>nestjs-ws-auth demo: authenticated WebSockets in NestJS</h1></header>
<main>
  <div>
    <section>
      <h2>1. Log in</h2>
      <form id="login">
        <label>User <select name="username"><option>alice</option><option>admin</option></select></label>
        <label>Password <input name="password" type="password" value="alice" autocomplete="current-password"></label>
        <label>Connect with
          <select name="mode">
            <option value="cookie">cookie (HttpOnly, set by login)</option>
            <option value="ticket">single-use ticket (?ticket=)</option>
            <option value="subprotocol">bearer.&lt;jwt&gt; subprotocol</option>
            <option value="in-band">in-band authenticate (/live)</option>
          </select>
        </label>
        <button type="submit">Log in and connect</button>
      </form>
      <button id="disconnect" type="button">Disconnect</button>
      <button id="logout" type="button">Log out</button>
    </section>
    <section>
      <h2>2. Connection</h2>
      <div>State: <span id="state">idle</span></div>
      <div>Connected as: <span id="who">nobody</span></div>
    </section>
  </div>
  <div>
    <section>
      <h2>3. Chat</h2>
      <form id="chat"><input name="text" placeholder="Say something" autocomplete="off"><button type="submit">Send</button></form>
      <ul id="messages"></ul>
    </section>
    <section>
      <h2>Connection events</h2>
      <ul id="events"></ul>
    </section>
  </div>
</main>
<script type="module">
import { WsAuthClient } from '/client/ws-auth-client.js';

const $ = (id) => document.getElementById(id);
let client;
let accessToken;

function log(list, text) {
  const item = document.createElement('li');
  item.textContent = new Date().toLocaleTimeString() + '  ' + text;
  $(list).prepend(item);
}

async function post(path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
  if (!response.ok) throw new Error(path + ' answered ' + response.status);
  return response.json();
}

// A fresh access token for every refresh and reconnect: /auth/refresh spends the HttpOnly
// refresh cookie (sent to that path only) and sets its successor.
async function freshToken() {
  accessToken = (await post('/auth/refresh')).access_token;
  return accessToken;
}

$('login').username.addEventListener('change', (event) => ($('login').password.value = event.target.value));

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  client?.close();
  const form = event.target;
  try {
    accessToken = (await post('/auth/login', { username: form.username.value, password: form.password.value })).access_token;
  } catch (error) {
    log('events', 'login failed: ' + error.message);
    return;
  }
  const mode = form.mode.value;
  const path = mode === 'in-band' ? '/live' : '/chat';
  const credential =
    mode === 'ticket' ? { mode, fetchTicket: async () => (await post('/auth/ws-ticket', {}, await freshToken())).ticket }
    : mode === 'subprotocol' ? { mode, protocol: 'chat.v1' }
    : { mode };
  client = new WsAuthClient({
    url: location.origin.replace(/^http/, 'ws') + path,
    credential,
    getToken: freshToken,
    onReconnect: () => log('events', 'reconnected: asking who I am again'),
  });
  client.on('state', (state) => {
    $('state').textContent = state;
    $('state').className = 'state-' + state;
    log('events', 'state: ' + state);
    if (state === 'open') client.send('whoami');
  });
  client.on('whoami', (data) => ($('who').textContent = data.username + ' (' + data.roles.join(', ') + ')'));
  client.on('chat', (data) => log('messages', data.from + ': ' + data.text));
  client.on('token_expiring', (data) => log('events', 'token expiring at ' + new Date(data.expiresAt).toLocaleTimeString() + ': refreshing'));
  client.on('refreshed', (data) => log('events', 'refreshed: now valid until ' + new Date(data.expiresAt).toLocaleTimeString()));
  client.on('stopped', (info) => log('events', 'stopped: ' + info.code + ' ' + info.reason));
  client.on('exception', (data) => log('events', 'refused: ' + data.message));
  log('events', 'logged in; connecting to ' + path + ' with ' + mode);
  client.connect();
  window.demoClient = client;
});

$('chat').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client?.send('chat', { text: event.target.text.value })) event.target.text.value = '';
});

$('disconnect').addEventListener('click', () => client?.close());

// Ends this login's session: the server closes its sockets (4403 Logged Out) and clears the cookies.
$('logout').addEventListener('click', async () => {
  const headers = accessToken ? { authorization: 'Bearer ' + accessToken } : {};
  const response = await fetch('/auth/logout', { method: 'POST', headers });
  log('events', 'logout: ' + response.status);
  accessToken = undefined;
  $('who').textContent = 'nobody';
});
</script>
</body>
</html>
`;
