import { Logger } from '@nestjs/common';
import { createSampleApp } from './create-sample-app.js';
import { sampleConfigFromEnv } from './sample.config.js';

const config = sampleConfigFromEnv();
const app = await createSampleApp(config);
await app.listen(config.port, config.host);
new Logger('Sample').log(`Listening on ${config.tls ? 'https' : 'http'}://${config.host}:${config.port} (WebSocket: /chat, /live)`);
