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
  input[type=checkbox] { width: auto; }
  .checks label { display: inline-block; margin-right: 12px; }
  #say { display: grid; grid-template-columns: 140px 1fr auto; gap: 6px; align-items: end; margin-top: 8px; }
  .topic { border-top: 1px solid #e3e5ea; margin-top: 10px; padding-top: 8px; }
  .topic-head { display: flex; gap: 10px; align-items: baseline; }
  .topic-head button { margin-top: 0; padding: 2px 8px; }
  .topic-status { color: #5b6475; font-size: 13px; }
  .topic-ended .topic-status { color: #b3261e; font-weight: 600; }
  .topic-ended button { display: none; }
  section + section { margin-top: 16px; }
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
    <section>
      <h2>5. Admin</h2>
      <form id="set-roles">
        <label>User <select name="username"><option>alice</option><option>admin</option></select></label>
        <div class="checks">Roles
          <label><input type="checkbox" name="role" value="user" checked> user</label>
          <label><input type="checkbox" name="role" value="admin"> admin</label>
        </div>
        <button type="submit">Set roles</button>
      </form>
      <button id="stats" type="button">Connection count</button>
    </section>
  </div>
  <div>
    <section>
      <h2>3. Chat</h2>
      <form id="chat"><input name="text" placeholder="Say something" autocomplete="off"><button type="submit">Send</button></form>
      <ul id="messages"></ul>
    </section>
    <section>
      <h2>4. Topics</h2>
      <form id="join">
        <label>Topic <input name="topic" value="room:general" list="topic-names" autocomplete="off"></label>
        <datalist id="topic-names"><option value="room:general"><option value="room:admins"><option value="doc:1"><option value="doc:2"></datalist>
        <button type="submit">Join</button>
      </form>
      <form id="say">
        <label>In <select name="topic"></select></label>
        <input name="text" placeholder="Say something to the topic" autocomplete="off">
        <button type="submit">Say</button>
      </form>
      <div id="topics"></div>
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
// Topics this socket is in: name -> expiresAt (epoch ms of its topic token; null: no token).
const joined = new Map();
// One block per topic ever joined in this login, with its messages: name -> { block, status, list }.
const topicViews = new Map();

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

// A topic token for a doc: topic, asked with the current access token; once more with a fresh
// one if that was refused (expired). Not fresh every time: two refreshes at once would spend the
// same refresh cookie twice, and a reused refresh token ends the whole session.
async function topicToken(topic) {
  try {
    return (await post('/auth/topic-token', { topic }, accessToken)).token;
  } catch {
    return (await post('/auth/topic-token', { topic }, await freshToken())).token;
  }
}

// Joins, or joins again with a fresh token before the current one expires.
async function join(topic) {
  let token;
  if (topic.startsWith('doc:')) {
    try {
      token = await topicToken(topic);
    } catch (error) {
      log('events', 'no topic token for ' + topic + ': ' + error.message);
      return;
    }
  }
  client?.send('join', token ? { topic, token } : { topic });
}

function topicView(topic) {
  let view = topicViews.get(topic);
  if (view) return view;
  const block = document.createElement('div');
  block.className = 'topic';
  const head = document.createElement('div');
  head.className = 'topic-head';
  const name = document.createElement('strong');
  name.textContent = topic;
  const status = document.createElement('span');
  status.className = 'topic-status';
  const leave = document.createElement('button');
  leave.type = 'button';
  leave.textContent = 'Leave';
  leave.addEventListener('click', () => client?.send('leave', { topic }));
  head.append(name, status, leave);
  const list = document.createElement('ul');
  block.append(head, list);
  $('topics').append(block);
  view = { block, status, list };
  topicViews.set(topic, view);
  return view;
}

function showTopics() {
  const select = $('say').topic;
  const chosen = select.value;
  select.replaceChildren(...[...joined.keys()].map((topic) => new Option(topic, topic, false, topic === chosen)));
  const now = Date.now();
  for (const [topic, view] of topicViews) {
    if (!joined.has(topic)) continue;
    const expiresAt = joined.get(topic);
    view.status.textContent = expiresAt === null ? 'joined' : 'token: ' + Math.max(0, Math.round((expiresAt - now) / 1000)) + ' s left';
  }
}
setInterval(showTopics, 1000);

function leftTopic(topic, why) {
  joined.delete(topic);
  const view = topicView(topic);
  view.block.classList.add('topic-ended');
  view.status.textContent = why;
  showTopics();
}

$('login').username.addEventListener('change', (event) => ($('login').password.value = event.target.value));

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  client?.close();
  joined.clear();
  topicViews.clear();
  $('topics').replaceChildren();
  showTopics();
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
    // A new socket is in no topic: join again what the page was in.
    onReconnect: () => {
      log('events', 'reconnected: asking who I am again and joining ' + (joined.size ? [...joined.keys()].join(', ') : 'no topics'));
      for (const topic of joined.keys()) join(topic);
    },
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
  client.on('joined', (data) => {
    joined.set(data.topic, data.expiresAt);
    const view = topicView(data.topic);
    view.block.classList.remove('topic-ended');
    showTopics();
    log('events', 'joined ' + data.topic + (data.expiresAt === null ? '' : ' until ' + new Date(data.expiresAt).toLocaleTimeString()));
  });
  client.on('left', (data) => {
    leftTopic(data.topic, 'left');
    log('events', 'left ' + data.topic);
  });
  // The server let the socket go: its topic token expired, or its roles no longer allow it.
  client.on('unsubscribed', (data) => {
    leftTopic(data.topic, 'unsubscribed: ' + data.reason);
    log('events', 'unsubscribed from ' + data.topic + ': ' + data.reason);
    if (data.reason === 'forbidden') client.send('whoami');
  });
  client.on('topic_expiring', (data) => {
    log('events', 'topic token for ' + data.topic + ' expiring at ' + new Date(data.expiresAt).toLocaleTimeString() + ': joining again with a fresh one');
    join(data.topic);
  });
  client.on('message', (data) => {
    const item = document.createElement('li');
    item.textContent = new Date().toLocaleTimeString() + '  ' + data.from + ': ' + data.text;
    topicView(data.topic).list.prepend(item);
  });
  client.on('admin:set-roles', (data) =>
    log('events', data.username === null ? 'set roles: no such user' : 'roles of ' + data.username + ' now: ' + (data.roles.join(', ') || 'none')),
  );
  client.on('admin:stats', (data) => log('events', 'open connections on this instance: ' + data.connections));
  log('events', 'logged in; connecting to ' + path + ' with ' + mode);
  client.connect();
  window.demoClient = client;
});

$('chat').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client?.send('chat', { text: event.target.text.value })) event.target.text.value = '';
});

$('join').addEventListener('submit', (event) => {
  event.preventDefault();
  const topic = event.target.topic.value.trim();
  if (topic) join(topic);
});

$('say').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  if (form.topic.value && client?.send('say', { topic: form.topic.value, text: form.text.value })) form.text.value = '';
});

$('set-roles').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  const roles = [...form.querySelectorAll('input[name=role]:checked')].map((box) => box.value);
  client?.send('admin:set-roles', { username: form.username.value, roles });
});

$('stats').addEventListener('click', () => client?.send('admin:stats'));

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
