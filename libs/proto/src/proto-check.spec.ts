// `npm run proto:check` (scripts/proto-check.mjs) run on edited copies of proto/: each breaking
// edit is refused with buf's FILE rule named, and a compatible evolution passes.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const script = join(root, 'libs', 'proto', 'scripts', 'proto-check.mjs');
const AUTH = join('auth', 'v1', 'auth.proto');

/** Runs proto-check on a copy of proto/ with `edit` applied to auth.proto. */
function checkEdited(edit: (source: string) => string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'proto-check-'));
  try {
    cpSync(join(root, 'proto'), dir, { recursive: true, filter: (src) => !src.includes('releases') });
    const file = join(dir, AUTH);
    const before = readFileSync(file, 'utf8');
    const after = edit(before);
    expect(after).not.toBe(before);
    writeFileSync(file, after);
    const run = spawnSync(process.execPath, [script, dir], { cwd: root, encoding: 'utf8' });
    return { status: run.status, output: run.stdout + run.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('proto:check (buf lint + buf breaking FILE against proto/releases)', () => {
  it('passes on proto/ as committed', () => {
    const run = spawnSync(process.execPath, [script], { cwd: root, encoding: 'utf8' });
    expect(run.stdout).toContain('pass against proto/releases/v0.1.0.binpb');
    expect(run.status).toBe(0);
  });

  it("refuses a field's type changed", () => {
    const run = checkEdited((s) => s.replace(/message GetUserRequest \{\n {2}string user_id = 1;/, 'message GetUserRequest {\n  int64 user_id = 1;'));
    expect(run.output).toMatch(/changed type from "string" to "int64"/);
    expect(run.status).not.toBe(0);
  });

  it("refuses a field's number changed", () => {
    const run = checkEdited((s) => s.replace(/message GetUserRequest \{\n {2}string user_id = 1;/, 'message GetUserRequest {\n  string user_id = 2;'));
    expect(run.output).toMatch(/Previously present field "1" with name "user_id" on message "GetUserRequest" was deleted/);
    expect(run.status).not.toBe(0);
  });

  it('refuses a field removed without reserving its number and name', () => {
    const run = checkEdited((s) => s.replace(/message GetUserRequest \{\n {2}string user_id = 1;\n/, 'message GetUserRequest {\n'));
    expect(run.output).toMatch(/was deleted/);
    expect(run.status).not.toBe(0);
  });

  it('refuses a removal even with its number and name reserved (FILE rules: that is a new major version)', () => {
    const run = checkEdited((s) => s.replace(/message GetUserRequest \{\n {2}string user_id = 1;\n/, 'message GetUserRequest {\n  reserved 1;\n  reserved "user_id";\n'));
    expect(run.output).toMatch(/was deleted/);
    expect(run.status).not.toBe(0);
  });

  it('accepts a compatible evolution: a new field, and a number reserved', () => {
    const run = checkEdited((s) =>
      s.replace(/message GetUserRequest \{\n {2}string user_id = 1;\n/, 'message GetUserRequest {\n  string user_id = 1;\n  reserved 2;\n  string fields_hint = 3;\n'),
    );
    expect(run.output).toContain('pass against');
    expect(run.status).toBe(0);
  });
});
