/**
 * The shell blocks of a Markdown file and how each is marked (docs/documented-commands.md):
 * `<!-- doctest -->` on the line before a fence runs it; `<!-- doctest: skip <reason> -->` says
 * why it is not run; a shell block with neither is "unmarked", which the test refuses.
 */

/** A fenced code block that shows shell commands. */
export interface DocBlock {
  /** Repo-relative path of the Markdown file. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The block's text, without the fences. */
  body: string;
  mode: 'run' | 'skip' | 'unmarked';
  /** Why a skipped block is not run. */
  reason?: string;
  /** `<!-- doctest: expect <regex> -->`: the output of a plain block must match it. */
  expect?: RegExp;
  /** True when the block is a transcript: `$ ` commands each followed by the output they print. */
  transcript: boolean;
}

const SHELL_INFO = new Set(['sh', 'bash', 'shell', 'console']);
const MARKER = /^<!--\s*doctest(?::\s*(skip|expect)\s+(.*?))?\s*-->$/;

/** Every shell block of `text`: fences tagged sh/bash/shell/console, or untagged ones starting with `$ `. */
export function parseBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(```+|~~~+)\s*(\S*)/.exec(lines[i]);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]));
    const close = end === -1 ? lines.length : end;
    const body = lines.slice(i + 1, close).join('\n');
    const info = fence[2].toLowerCase();
    const transcript = body.split('\n').some((l) => l.startsWith('$ '));
    if (SHELL_INFO.has(info) || (info === '' && transcript)) {
      const marker = MARKER.exec((lines[i - 1] ?? '').trim());
      const block: DocBlock = { file, line: i + 1, body, transcript, mode: marker ? (marker[1] === 'skip' ? 'skip' : 'run') : 'unmarked' };
      if (marker?.[1] === 'skip') block.reason = marker[2];
      if (marker?.[1] === 'expect') block.expect = new RegExp(marker[2], 'm');
      blocks.push(block);
    }
    i = close;
  }
  return blocks;
}

/** One `$ ` command of a transcript and the output lines shown under it. */
export interface TranscriptStep {
  command: string;
  expected: string[];
}

/** Splits a transcript into commands (a trailing `\` continues one) and their shown output. */
export function parseTranscript(body: string): TranscriptStep[] {
  const steps: TranscriptStep[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('$ ')) {
      steps.at(-1)?.expected.push(lines[i]);
      continue;
    }
    let command = lines[i].slice(2);
    // A trailing backslash continues the command; bash reads the backslash-newline the same way.
    while (command.endsWith('\\') && i + 1 < lines.length) command = command + '\n' + lines[++i];
    steps.push({ command, expected: [] });
  }
  for (const step of steps) while (step.expected.length > 0 && step.expected.at(-1)?.trim() === '') step.expected.pop();
  return steps;
}

/**
 * Whether `actual` output matches the `expected` lines a doc shows: line by line after trimming
 * trailing spaces; a line `...` (indented or not) matches any number of lines, and `<...>` inside a line any text.
 */
export function outputMatches(expected: string[], actual: string): boolean {
  const trimmed = actual.replace(/\n+$/, '');
  const got = trimmed === '' ? [] : trimmed.split('\n').map((l) => l.trimEnd());
  const want = expected.map((l) => l.trimEnd());
  const line = (pattern: string) => new RegExp('^' + pattern.split('<...>').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  const match = (w: number, g: number): boolean => {
    if (w === want.length) return g === got.length;
    if (want[w].trim() === '...') {
      for (let k = g; k <= got.length; k++) if (match(w + 1, k)) return true;
      return false;
    }
    return g < got.length && line(want[w]).test(got[g]) && match(w + 1, g + 1);
  };
  return match(0, 0);
}
