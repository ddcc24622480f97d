import assert from 'node:assert/strict';
import { frameOf } from './exception-frames.js';
import type { RunningSample, SampleResponse } from './sample-app.js';
import { openWitnessed, type SocketWitness } from './socket-witness.js';

/** What the sample's topic suites do as a client: open `/chat` or `/live`, join, ask for a topic token. */
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export function askTopicToken(sample: RunningSample, accessToken: string | undefined, body?: unknown): Promise<SampleResponse> {
  return sample.post('/auth/topic-token', { headers: accessToken === undefined ? {} : bearer(accessToken), json: body });
}

export function onChat(sample: RunningSample, accessToken: string): Promise<SocketWitness> {
  return openWitnessed(sample.ws('/chat'), { headers: bearer(accessToken) });
}

/** `/live` authenticates in-band: the socket opens first, then `authenticate`. */
export async function onLive(sample: RunningSample, accessToken: string): Promise<SocketWitness> {
  const socket = await openWitnessed(sample.ws('/live'));
  await socket.authenticate(accessToken);
  return socket;
}

/** The answer to a frame that should be refused with an `exception`; the socket must stay usable. */
export async function exceptionFor(socket: SocketWitness, event: string, data?: unknown) {
  const answer = (await socket.request(event, data, 'exception')).data;
  assert.equal((await socket.request('whoami')).event, 'whoami', 'the socket stays open after a refusal');
  return answer;
}

export async function join(socket: SocketWitness, topic: string, token?: string) {
  return frameOf(await socket.request('join', token === undefined ? { topic } : { topic, token }, 'joined'));
}

export async function closeAll(...sockets: SocketWitness[]): Promise<void> {
  await Promise.all(sockets.map((socket) => socket.close()));
}
