// README: Credential sources, the subprotocol.
const token = sessionStorage.getItem('access_token') ?? '';

// #region subprotocol
const socket = new WebSocket('wss://api.example.com/chat', ['chat.v1', `bearer.${token}`]);
socket.protocol; // 'chat.v1'
// #endregion
export { socket };
