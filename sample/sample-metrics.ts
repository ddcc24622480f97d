import { Logger } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

let exporter: PrometheusExporter | undefined;

/**
 * The process's OpenTelemetry metrics, read by Prometheus through `GET /metrics`. Call it before
 * the Nest app is created: the OpenTelemetry API has no stand-in provider for metrics, so a
 * meter taken before a global provider is registered records into nothing, for good.
 *
 * Once per process: the API takes one global provider, and a second sample app in the same
 * process (tests start several) shares it, so its series add up with the first one's.
 */
export function sampleMetrics(): PrometheusExporter {
  if (exporter) return exporter;
  // A pull reader: the series are collected only when a scrape asks, and it runs no timer and no
  // server of its own (the sample's HTTP server answers the scrape).
  exporter = new PrometheusExporter({ preventServerStart: true });
  if (!metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }))) {
    new Logger('Sample').warn('Another OpenTelemetry MeterProvider is already global: GET /metrics serves none of its series.');
  }
  return exporter;
}
