/** The `data` of the exception replies the library's refusals produce. */
export const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'forbidden' };
export const BAD_REQUEST = { status: 'error', message: 'Bad Request', code: 'bad_request' };

/** A frame as the client got it: `{ event, data }` exactly, nothing more. */
export const frameOf = (frame: { text: string }) => JSON.parse(frame.text);
