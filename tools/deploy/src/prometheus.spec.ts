// deploy/prometheus checked with the real promtool (Debian `prometheus`): the config, the alert
// rules, and the rules' unit tests (alerts.test.yml: each alert fires on bad synthetic series and
// stays silent on healthy ones).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithTools } from '../test/describe-with-tools';
import { PROMTOOL } from './binaries';
import { ALERT_RULE_TESTS, ALERT_RULES, PROMETHEUS_CONFIG, promtool } from './prometheus';
import { alertRules } from './queries';

describeWithTools('deploy/prometheus with promtool', [PROMTOOL], () => {
  it('promtool check config: prometheus.yml and the rule file it loads are valid', async () => {
    const result = await promtool('check', 'config', PROMETHEUS_CONFIG);
    expect(result.output).toContain('SUCCESS: 1 rule files found');
    expect(result.output).toMatch(/SUCCESS: .*prometheus.yml is valid prometheus config file syntax/);
    expect(result.code).toBe(0);
  });

  it('promtool check rules: alerts.yml is valid', async () => {
    const result = await promtool('check', 'rules', ALERT_RULES);
    expect(result.output).toContain(`SUCCESS: ${alertRules().length} rules found`);
    expect(result.code).toBe(0);
  });

  it('promtool test rules: every alert has a test, and they pass', async () => {
    const tested = new Set([...readFileSync(ALERT_RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    expect([...tested].sort()).toEqual(alertRules().map((r) => r.alert).sort());
    const result = await promtool('test', 'rules', ALERT_RULE_TESTS);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('promtool test rules fails when an alert stops firing (the tests can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
    try {
      // The same tests against rules whose error-rate threshold is too high to be crossed.
      writeFileSync(join(dir, 'alerts.yml'), readFileSync(ALERT_RULES, 'utf8').replace('> 0.05', '> 0.5'));
      copyFileSync(ALERT_RULE_TESTS, join(dir, 'alerts.test.yml'));
      const result = await promtool('test', 'rules', join(dir, 'alerts.test.yml'));
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('alertname: GrpcHighServerErrorRate');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
