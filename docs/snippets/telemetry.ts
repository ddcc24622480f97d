// README: Metrics and audit events.
import { Injectable, Logger, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import { WsAuthEvents } from 'nestjs-ws-auth';

@Module({})
class AppModule {}

// #region register-sdk
import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';

metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PrometheusExporter({ port: 9464 })] }));
const app = await NestFactory.create(AppModule);
// #endregion
await app.close();

// #region audit-trail
@Injectable()
export class WsAuditTrail implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private subscription?: Subscription;

  constructor(private readonly events: WsAuthEvents) {}

  onModuleInit() {
    this.subscription = this.events.events$.subscribe((event) => {
      if (event.type === 'connection.refused') this.logger.warn(`${event.gateway}: refused (${event.reason}) from ${event.remoteAddress}`);
      else this.logger.log(JSON.stringify(event));
    });
  }

  onModuleDestroy() {
    this.subscription?.unsubscribe();
  }
}
// #endregion
