/**
 * The Dockerfile, read as Docker's parser reads it (instructions, `\` line continuations,
 * `#` comments, stages), plus .dockerignore matching, for static checks: no Docker engine runs
 * on the machines that test this repo.
 */
import { SERVICE_NAMES } from '@grpc-patterns/manifest';
import { repoRoot } from '@grpc-patterns/testing';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DOCKERFILE = join(repoRoot, 'Dockerfile');
export const DOCKERIGNORE = join(repoRoot, '.dockerignore');

/** One instruction: `COPY --from=build /repo/apps ./apps` -> { keyword: 'COPY', args: '--from=build /repo/apps ./apps' }. */
export interface Instruction {
  keyword: string;
  args: string;
  /** 1-based line of the instruction's first line. */
  line: number;
}

/** One build stage: its FROM image, `AS` name and instructions (FROM excluded). */
export interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (comments and parser directives dropped, continuations joined). */
export function parseInstructions(text: string): Instruction[] {
  const result: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending !== '' && line.trimStart().startsWith('#')) return; // comment inside a continuation
    if (pending === '') start = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/s.exec(full);
    if (m) result.push({ keyword: m[1].toUpperCase(), args: m[2].replace(/\s+/g, ' ').trim(), line: start });
  });
  return result;
}

/** Groups instructions into stages. @throws Error when an instruction comes before the first FROM (ARG excepted). */
export function parseStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const i of parseInstructions(text)) {
    if (i.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      if (!m) throw new Error(`line ${i.line}: cannot read FROM ${i.args}`);
      stages.push({ image: m[1], name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (i.keyword !== 'ARG') throw new Error(`line ${i.line}: ${i.keyword} before the first FROM`);
    } else {
      stages[stages.length - 1].instructions.push(i);
    }
  }
  return stages;
}

/** A COPY/ADD split into flags, sources and destination (shell form, or the JSON array form). */
export function copyParts(args: string): { flags: Record<string, string>; sources: string[]; destination: string } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(' ');
  const flags: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const [name, value = ''] = (words.shift() as string).slice(2).split('=');
    flags[name] = value;
  }
  const destination = words.pop() ?? '';
  return { flags, sources: words, destination };
}

/**
 * Whether .dockerignore `patterns` exclude `path` (context-relative, `/`-separated), by Docker's rules: Go
 * filepath.Match plus `**` spanning segments, a matched directory excludes what is below, a later `!pattern`
 * re-includes, leading `/` and `./` ignored.
 */
export function isIgnored(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\.?\//, '').replace(/\/$/, '');
    if (pattern === '') continue;
    const regex = new RegExp(
      '^' +
        pattern
          .split('**')
          .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
          .join('.*')
          .replace(/\.\*\//g, '(.*/)?') +
        '(/.*)?$',
    );
    if (regex.test(path)) ignored = !negate;
  }
  return ignored;
}

/** The patterns of a .dockerignore (comments and blank lines dropped). */
export function dockerignorePatterns(text = readFileSync(DOCKERIGNORE, 'utf8')): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The argv of an exec-form (`["node", "x"]`) CMD/ENTRYPOINT; undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : undefined;
}

/** HEALTHCHECK options (`--interval=10s`) and its command (`CMD` form, shell text). */
export function healthcheckParts(args: string): { options: Record<string, string>; command: string } {
  const options: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    options[m[1]] = m[2];
    rest = rest.slice(m[0].length);
  }
  if (!rest.startsWith('CMD ')) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  return { options, command: rest.slice(4).trim() };
}

/** The apps the image runs: the manifest's services and the CLI (its HEALTHCHECK and the tour). */
export const IMAGE_APPS: readonly string[] = [...SERVICE_NAMES, 'cli'];

/**
 * The workspace folders the image must ship (`apps/auth`, `libs/config`, ...): {@link IMAGE_APPS}
 * and, transitively, every `@grpc-patterns/*` package in their `dependencies` (devDependencies,
 * such as libs/testing, left out), as `npm ci --omit=dev -w <app>` links them.
 */
export function runtimeWorkspaces(): string[] {
  const folders = new Map<string, string>();
  for (const root of ['apps', 'libs', 'tools']) {
    for (const dir of readdirSync(join(repoRoot, root))) {
      const file = join(repoRoot, root, dir, 'package.json');
      if (existsSync(file)) folders.set((JSON.parse(readFileSync(file, 'utf8')) as { name: string }).name, `${root}/${dir}`);
    }
  }
  const shipped = new Set<string>();
  const visit = (folder: string) => {
    if (shipped.has(folder)) return;
    shipped.add(folder);
    const deps = (JSON.parse(readFileSync(join(repoRoot, folder, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
    for (const name of Object.keys(deps)) {
      const dep = folders.get(name);
      if (dep) visit(dep);
    }
  };
  for (const app of IMAGE_APPS) visit(`apps/${app}`);
  return [...shipped].sort();
}
