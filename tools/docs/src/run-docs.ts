/**
 * Runs the `<!-- doctest -->` blocks of the docs (docs/documented-commands.md): one bash per
 * Markdown file, so a variable a block sets (TOKEN=...) is there for the next block of that file,
 * in the repo root, with the stack started by {@link startDocStack} on the default ports.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outputMatches, parseTranscript, type DocBlock } from './blocks.js';

/** Markdown files whose commands are checked, repo-relative: README, PATTERNS, app/lib/tool READMEs, docs/. */
export function docFiles(root: string): string[] {
  const readmes = (dir: string) =>
    existsSync(join(root, dir)) ? readdirSync(join(root, dir)).filter((p) => existsSync(join(root, dir, p, 'README.md'))).map((p) => `${dir}/${p}/README.md`) : [];
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', 'PATTERNS.md'].filter((f) => existsSync(join(root, f))).concat(readmes('apps'), readmes('libs'), readmes('tools'), docs);
}

/** What happened to one block. */
export interface BlockResult {
  block: DocBlock;
  status: 'passed' | 'failed' | 'not run';
  /** For a failure: what differed, and the output. */
  message?: string;
}

/** Runs `blocks` (all of one file, in order) and checks each; stops the file at its first failure. */
export async function runBlocks(root: string, blocks: DocBlock[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<BlockResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'doctest-'));
  const script = ['set -o pipefail', `cd ${JSON.stringify(root)}`];
  blocks.forEach((block, k) => {
    script.push(`echo ${k} > "$DOCTEST_DIR/current"`);
    if (block.transcript) {
      parseTranscript(block.body).forEach((step, j) => script.push(`{\n${step.command}\n} > "$DOCTEST_DIR/${k}.${j}.out" 2>&1 < /dev/null`, `echo $? > "$DOCTEST_DIR/${k}.${j}.rc"`));
    } else {
      script.push('set -e', `{\n${block.body}\n} > "$DOCTEST_DIR/${k}.out" 2>&1 < /dev/null`, 'set +e');
    }
    script.push(`echo done > "$DOCTEST_DIR/${k}.done"`);
  });
  writeFileSync(join(dir, 'script.sh'), script.join('\n') + '\n');
  try {
    const exit = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
      const child = spawn('bash', [join(dir, 'script.sh')], { env: { ...env, DOCTEST_DIR: dir }, stdio: 'ignore', detached: true });
      const timer = setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          /* gone */
        }
        resolve({ code: null, timedOut: true });
      }, timeoutMs);
      child.on('exit', (code) => (clearTimeout(timer), resolve({ code, timedOut: false })));
    });
    const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');
    let stopped = false;
    return blocks.map((block, k): BlockResult => {
      if (stopped) return { block, status: 'not run' };
      if (!existsSync(join(dir, `${k}.done`))) {
        stopped = true;
        const why = exit.timedOut ? `timed out after ${timeoutMs} ms` : `a command exited ${exit.code}`;
        return { block, status: 'failed', message: `${why}; output:\n${read(`${k}.out`) || lastStepOutput(dir, k)}` };
      }
      if (block.transcript) {
        for (const [j, step] of parseTranscript(block.body).entries()) {
          const out = read(`${k}.${j}.out`);
          if (!outputMatches(step.expected, out)) return { block, status: 'failed', message: `$ ${step.command}\nexpected:\n${step.expected.join('\n')}\ngot (exit ${read(`${k}.${j}.rc`).trim()}):\n${out}` };
        }
      } else if (block.expect && !block.expect.test(read(`${k}.out`))) {
        return { block, status: 'failed', message: `output does not match /${block.expect.source}/:\n${read(`${k}.out`)}` };
      }
      return { block, status: 'passed' };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function lastStepOutput(dir: string, k: number): string {
  const outs = readdirSync(dir).filter((f) => f.startsWith(`${k}.`) && f.endsWith('.out')).sort();
  return outs.length ? readFileSync(join(dir, outs[outs.length - 1]), 'utf8') : '';
}

/** A stack the docs' commands talk to: `npm start`'s runner on the default ports, no tour. */
export interface DocStack {
  output: () => string;
  stop: () => Promise<number | null>;
}

/**
 * Starts tools/stack on 50051-50055 / 9101-9105 with its data in a temp dir and resolves once it
 * prints "All services SERVING". Rejects with the runner's output when it exits first (e.g. a
 * port is taken: stop the stack you have running).
 */
export function startDocStack(root: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): Promise<DocStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'doctest-stack-'));
  const child = spawn(process.execPath, [join(root, 'tools', 'stack', 'dist', 'main.js'), '--no-tour', '--data-dir', dataDir], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c));
  child.stderr.on('data', (c: Buffer) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (rmSync(dataDir, { recursive: true, force: true }), resolve(code))));
  const stack: DocStack = {
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`stack not SERVING after ${timeoutMs} ms:\n${output}`))), timeoutMs);
    const check = () => {
      if (!output.includes('All services SERVING')) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve(stack);
    };
    child.stdout.on('data', check);
    void exited.then((code) => (clearTimeout(timer), reject(new Error(`stack exited ${code} before SERVING:\n${output}`))));
  });
}
