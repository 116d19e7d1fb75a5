// Writes docs/api-reference.md from proto/'s own comments: every service, method, message, field
// and enum of each package, from `buf build` (source info kept). `npm run proto:docs` writes it;
// `--check` exits 1 naming the file when it is not current (libs/proto/src/api-reference.spec.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const out = join(root, 'docs', 'api-reference.md');
// A buf image in its JSON form: google.protobuf.FileDescriptorProto fields in camelCase.
const set = JSON.parse(execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['build', 'proto', '--exclude-imports', '-o', '-#format=json'], { cwd: root, maxBuffer: 16 << 20, encoding: 'utf8' }));

/** FieldDescriptorProto.Type as JSON names it (TYPE_STRING) to the proto keyword (string). */
const scalar = (type) => type.replace(/^TYPE_/, '').toLowerCase();
const text = (s) => s.trim().replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
const plainType = (f) => (f.typeName ? f.typeName.replace(/^\./, '') : scalar(f.type));
/** Map entries (`map<k, v>` fields), by full name, from every file. */
const mapEntries = new Map();
const collect = (list, prefix) =>
  list?.forEach((m) => {
    if (m.options?.mapEntry) mapEntries.set(`${prefix}.${m.name}`, m);
    collect(m.nestedType, `${prefix}.${m.name}`);
  });
for (const file of set.file) collect(file.messageType, `.${file.package}`);
/** `type` of a field, with `repeated`/`optional`, or `map<k, v>`. */
function typeOf(f) {
  const entry = mapEntries.get(f.typeName);
  if (entry) return '`map<' + entry.field.map(plainType).join(', ') + '>`';
  const label = f.label === 'LABEL_REPEATED' ? 'repeated ' : f.proto3Optional ? 'optional ' : '';
  return label + '`' + plainType(f) + '`';
}

/** Comments of one file, by source path ("4,0,2,1" = message 0, field 1). */
function commentsOf(file) {
  const byPath = new Map();
  for (const loc of file.sourceCodeInfo?.location ?? []) if (loc.leadingComments) byPath.set(loc.path.join(','), text(loc.leadingComments));
  return (...path) => byPath.get(path.join(',')) ?? '';
}

const lines = ['# API reference', '', 'Generated from the comments in `proto/` by `npm run proto:docs` (libs/proto/scripts/api-reference.mjs); do not edit. A test fails when it is not current.', ''];
for (const file of [...set.file].sort((a, b) => a.name.localeCompare(b.name))) {
  const comment = commentsOf(file);
  lines.push(`## ${file.package}`, '', `\`proto/${file.name}\``, '', comment(2), '');
  (file.service ?? []).forEach((service, s) => {
    lines.push(`### service ${service.name}`, '', comment(6, s), '', '| method | request | response | |', '|---|---|---|---|');
    (service.method ?? []).forEach((m, i) => {
      const arrow = (streaming, t) => (streaming ? 'stream ' : '') + '`' + t.replace(/^\./, '') + '`';
      lines.push(`| ${m.name} | ${arrow(m.clientStreaming === true, m.inputType)} | ${arrow(m.serverStreaming === true, m.outputType)} | ${comment(6, s, 2, i)} |`);
    });
    lines.push('');
  });
  const messages = (list, path, prefix) =>
    list.forEach((msg, i) => {
      if (msg.options?.mapEntry) return;
      const here = [...path, i];
      lines.push(`### ${prefix}${msg.name}`, '');
      if (comment(...here)) lines.push(comment(...here), '');
      if (msg.field?.length) {
        lines.push('| field | number | type | |', '|---|---|---|---|');
        msg.field.forEach((f, j) => {
          lines.push(`| \`${f.name}\` | ${f.number} | ${typeOf(f)} | ${comment(...here, 2, j)} |`);
        });
        lines.push('');
      }
      messages(msg.nestedType ?? [], [...here, 3], `${prefix}${msg.name}.`);
      enums(msg.enumType ?? [], [...here, 4], `${prefix}${msg.name}.`);
    });
  const enums = (list, path, prefix) =>
    list.forEach((e, i) => {
      lines.push(`### enum ${prefix}${e.name}`, '');
      if (comment(...path, i)) lines.push(comment(...path, i), '');
      lines.push('| value | number | |', '|---|---|---|');
      (e.value ?? []).forEach((v, j) => lines.push(`| \`${v.name}\` | ${v.number} | ${comment(...path, i, 2, j)} |`));
      lines.push('');
    });
  messages(file.messageType ?? [], [4], '');
  enums(file.enumType ?? [], [5], '');
}
const markdown = lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    /* missing: not current */
  }
  if (current !== markdown) {
    console.error('api-reference: docs/api-reference.md is not current: run npm run proto:docs');
    process.exit(1);
  }
  console.log('api-reference: docs/api-reference.md is current');
} else {
  writeFileSync(out, markdown);
  console.log(`api-reference: wrote docs/api-reference.md (${set.file.length} files)`);
}
