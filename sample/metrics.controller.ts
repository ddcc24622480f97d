import { Controller, Get, Req, Res } from '@nestjs/common';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { Request, Response } from 'express';

/**
 * Prometheus's scrape of the process's OpenTelemetry metrics (text format), the library's
 * `ws_auth_*` series among them. Their labels carry no token, user, subject or address, but the
 * figures still tell an outsider how much traffic there is and which refusals their probing
 * causes: a real deployment serves this on an internal port or behind authentication. The
 * sample listens on loopback unless HOST says otherwise.
 */
@Controller()
export class MetricsController {
  constructor(private readonly exporter: PrometheusExporter) {}

  @Get('metrics')
  scrape(@Req() req: Request, @Res() res: Response): void {
    this.exporter.getMetricsRequestHandler(req, res);
  }
}
