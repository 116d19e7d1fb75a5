import { outputMatches, parseBlocks, parseTranscript } from './blocks.js';

describe('parseBlocks', () => {
  const md = [
    '<!-- doctest -->',
    '```sh',
    'echo hi',
    '```',
    '',
    '```sh',
    'npm start',
    '```',
    '<!-- doctest: skip runs until Ctrl-C -->',
    '```bash',
    'sleep infinity',
    '```',
    '```',
    '$ echo "exit $?"',
    'exit 0',
    '```',
    '```yaml',
    'a: b',
    '```',
    '<!-- doctest: expect ^SERVING$ -->',
    '```sh',
    'grpc-patterns health',
    '```',
  ].join('\n');

  it('finds shell blocks with their marks, line numbers and transcripts, and ignores other languages', () => {
    expect(parseBlocks('x.md', md).map((b) => [b.line, b.mode, b.reason, b.transcript, b.expect?.source])).toEqual([
      [2, 'run', undefined, false, undefined],
      [6, 'unmarked', undefined, false, undefined],
      [10, 'skip', 'runs until Ctrl-C', false, undefined],
      [13, 'unmarked', undefined, true, undefined],
      [21, 'run', undefined, false, '^SERVING$'],
    ]);
  });
});

describe('parseTranscript and outputMatches', () => {
  it('splits commands (with \\ continuations) from the output shown under them', () => {
    expect(parseTranscript('$ a \\\n  b\nout 1\n\n$ c\n')).toEqual([
      { command: 'a \\\n  b', expected: ['out 1'] },
      { command: 'c', expected: [] },
    ]);
  });

  it('matches line by line, with ... for any lines and <...> for any text in a line', () => {
    expect(outputMatches(['a', 'b'], 'a\nb\n')).toBe(true);
    expect(outputMatches(['a', 'b'], 'a\nc\n')).toBe(false);
    expect(outputMatches(['a', '...', 'z'], 'a\nb\nc\nz')).toBe(true);
    expect(outputMatches(['a', '...', 'z'], 'a\nz')).toBe(true);
    expect(outputMatches(['took <...> ms'], 'took 12 ms')).toBe(true);
    expect(outputMatches(['took <...> ms'], 'took 12 s')).toBe(false);
    expect(outputMatches(['a'], 'a\nextra')).toBe(false);
    expect(outputMatches([], '')).toBe(true);
    expect(outputMatches([], 'something')).toBe(false);
  });
});
