import { readFile } from 'node:fs/promises';
import { Controller, Get, Header } from '@nestjs/common';
import { demoPage } from './demo-page.js';

// The compiled client helper, served as one ES module file next to the page.
const CLIENT_MODULE = new URL('../../lib/client/ws-auth-client.js', import.meta.url);

/** The demo page people look at before the README: log in, then chat over /chat. */
@Controller()
export class DemoController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return demoPage;
  }

  @Get('client/ws-auth-client.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  async client(): Promise<string> {
    return readFile(CLIENT_MODULE, 'utf8');
  }
}
