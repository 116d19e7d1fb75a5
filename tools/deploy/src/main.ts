#!/usr/bin/env node
/**
 * `node tools/deploy/dist/main.js render [--out docs/dashboard.png] [--tours 3]`: draws the
 * Grafana dashboard from live data (see render.ts). The checks of docker-compose.yml, the
 * Dockerfile, deploy/prometheus, deploy/grafana and deploy/k8s are jest specs next to this file
 * and run in `npm test`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { renderDashboard } from './render.js';

const program = new Command('deploy').description('Deployment files of grpc-patterns: tools around docker-compose.yml and deploy/.');
program
  .command('render')
  .description('run the stack, Prometheus and the tour, then draw every panel of the Grafana dashboard from live data into a PNG')
  .option('--out <png>', 'image to write (default docs/dashboard.png)')
  .option(
    '--tours <n>',
    'tours to run as traffic (default 3)',
    (value) => {
      if (!/^[1-9]\d?$/.test(value)) throw new InvalidArgumentError('must be a whole number from 1 to 99');
      return Number(value);
    },
    3,
  )
  .action(async (options: { out?: string; tours: number }) => {
    const result = await renderDashboard(options);
    process.stdout.write(`wrote ${result.out}: ${Object.entries(result.series).map(([panel, n]) => `${panel} (${n})`).join(', ')}\n`);
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`deploy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
