// README: Credential sources (the Node side; the browser side is in browser/).
import WebSocket from 'ws';

declare const token: string;

// #region header
new WebSocket('wss://api.example.com/chat', { headers: { Authorization: `Bearer ${token}` } }); // ws
// #endregion
