// Comments say what, units, errors and source in a few lines; the why lives once, in the app's
// README "Explanation" or the lib's README, and the code points to it. No exported declaration
// has more than MAX_DOC_LINES lines of TSDoc (docs/architecture.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';
import { repoRoot, sourceFiles } from '../test/source-files';

const MAX_DOC_LINES = 3;

/** Non-blank text lines of a `/** ... *\/` block, without its delimiters and leading `*`. */
function docLines(comment: string): number {
  return comment
    .replace(/^\/\*\*/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .filter((line) => line.replace(/^\s*\*?/, '').trim() !== '').length;
}

/** The top-level exported declarations of `file` whose TSDoc (the last `/**` block before them) is over the limit. */
function longDocs(file: string): string[] {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  return source.statements
    .filter(
      (s) =>
        ts.isExportAssignment(s) ||
        ts.isExportDeclaration(s) ||
        (ts.canHaveModifiers(s) && (ts.getModifiers(s) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)),
    )
    .flatMap((s) => {
      const doc = (ts.getLeadingCommentRanges(text, s.pos) ?? [])
        .map((r) => text.slice(r.pos, r.end))
        .filter((c) => c.startsWith('/**'))
        .pop();
      const lines = doc === undefined ? 0 : docLines(doc);
      return lines > MAX_DOC_LINES ? [`${file}:${source.getLineAndCharacterOfPosition(s.getStart(source)).line + 1} (${lines} lines)`] : [];
    });
}

describe('doc length', () => {
  it(`no exported declaration outside generated code and tests has over ${MAX_DOC_LINES} lines of TSDoc`, () => {
    const over = sourceFiles(/\.ts$/)
      .flatMap((f) => longDocs(f));
    expect(over).toEqual([]);
  });
});
