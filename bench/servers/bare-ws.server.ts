import { WebSocketServer } from 'ws';
import { serveBenchmark } from './server-process.js';

// The floor: the `ws` library alone, no authentication, the same echo as the Nest servers.
const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
server.on('connection', (socket) => {
  socket.on('message', (data) => {
    const { event } = JSON.parse(data.toString()) as { event: string };
    socket.send(JSON.stringify({ event, data: 'pong' }));
  });
});
server.on('listening', () => {
  const address = server.address();
  serveBenchmark(
    typeof address === 'object' && address ? address.port : 0,
    async () => void server.close(),
    () => server.clients.size,
  );
});
