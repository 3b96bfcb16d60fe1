/** The campaign CLI's pure parts: templates, encodings, notification ids, a row's checks. */
import iconv from 'iconv-lite';
import { notificationIdOf, requestOf, unknownPlaceholders } from '../src/campaign/requests';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultsWriter } from '../src/campaign/results';
import { detectEncoding } from '../src/campaign/rows';
import { printable } from '../src/campaign/terminal';
import { placeholdersOf, render } from '../src/campaign/template';

const spec = {
  campaignId: 'c1',
  templates: { message: '{{firstName}}様' },
  keyColumn: 'userId',
  serviceLocale: 'en-US',
};

test('placeholders are filled from the row; in an HTML body the values are escaped', () => {
  expect(placeholdersOf('{{ a }} and {{b}} and {{a}}')).toEqual(['a', 'b']);
  expect(render('こんにちは {{name}}さん', { name: '花子' })).toEqual({ text: 'こんにちは 花子さん', missing: [] });
  expect(render('<p>{{name}}</p>', { name: '<b>"Tom" & Co</b>' }, { html: true }).text).toBe(
    '<p>&lt;b&gt;&quot;Tom&quot; &amp; Co&lt;/b&gt;</p>',
  );
  expect(render('{{x}}', {})).toEqual({ text: '{{x}}', missing: ['x'] });
  expect(unknownPlaceholders({ message: '{{a}}', subject: '{{b}}' }, ['a'])).toEqual(['b']);
});

test('UTF-8 (with or without BOM) and Shift_JIS are told apart, even with a character cut at the sample end', () => {
  const text = 'userId,firstName\nu1,山田花子\n';
  expect(detectEncoding(Buffer.from(text))).toBe('utf8');
  expect(detectEncoding(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))).toBe('utf8');
  expect(detectEncoding(iconv.encode(text, 'shift_jis'))).toBe('shift_jis');
  const utf8 = Buffer.from(text);
  expect(detectEncoding(utf8.subarray(0, utf8.indexOf(Buffer.from('花')) + 1))).toBe('utf8');
});

test('notification ids: readable when the key allows, else a hash, always within /notify’s 64 characters', () => {
  expect(notificationIdOf('spring', 'user-42')).toBe('spring.user-42');
  const hashed = notificationIdOf('spring', '山田 花子');
  expect(hashed).toMatch(/^spring\.[0-9a-f]{24}$/);
  expect(notificationIdOf('spring', '山田 花子')).toBe(hashed); // the same row, the same id, every run
  expect(notificationIdOf('c'.repeat(32), 'x'.repeat(60)).length).toBeLessThanOrEqual(64);
});

test('a row is checked as /notify and the providers would check it', () => {
  const now = Date.parse('2026-12-01T00:00:00Z');
  const ok = requestOf({ userId: 'u1', phone: '090-1234-5678', firstName: '花子', locale: 'ja-JP' }, 1, spec, now);
  expect(ok.problems).toEqual([]);
  expect(ok.params).toMatchObject({ notificationId: 'c1.u1', message: '花子様', locale: 'ja-JP' });
  const bad = requestOf({ userId: 'u2', phone: '12', firstName: '' }, 2, spec, now);
  expect(bad.problems.map((p) => p.field)).toEqual(['firstName', 'phone']); // every problem of the row at once
  const soon = { ...spec, sendAt: '2026-12-01T09:05:00+09:00' }; // 5 minutes ahead: too soon for SMS
  expect(requestOf({ userId: 'u3', phone: '+819012345678', firstName: 'a' }, 3, soon, now).problems[0].field).toBe(
    'sendAt',
  );
  const email = requestOf({ userId: 'u4', email: 'a@example.jp', firstName: 'a' }, 4, soon, now);
  expect(email.problems).toEqual([]); // SendGrid schedules 5 minutes ahead
  // --send-at best --within: each row asks /notify to pick its time; a window /notify refuses is found here
  const best = requestOf(
    { userId: 'u5', phone: '+819012345678', firstName: 'a' },
    5,
    { ...spec, sendAt: 'best', within: 'P2D' },
    now,
  );
  expect(best.problems).toEqual([]);
  expect(best.params).toMatchObject({ sendAt: 'best', within: 'P2D' });
  const tooLong = requestOf(
    { userId: 'u6', phone: '+819012345678', firstName: 'a' },
    6,
    { ...spec, sendAt: 'best', within: 'P60D' },
    now,
  );
  expect(tooLong.problems.map((p) => p.field)).toEqual(['within']);
});

test('what is printed of a cell shows control characters instead of sending them to the terminal', () => {
  expect(printable('row 3 (\u001b[2J\u001b]0;pwned\u0007): userId')).toBe('row 3 (\\x1b[2J\\x1b]0;pwned\\x07): userId');
  expect(printable('山田 花子')).toBe('山田 花子');
});

test('a formula in a cell is written to the results file escaped, so Excel shows it as text', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'results-')), 'r.csv');
  const writer = new ResultsWriter(path);
  writer.write({ row: 4, userId: '=HYPERLINK("http://x","y")', status: 'invalid', errorMessage: '+cmd|calc' });
  writer.close();
  const line = readFileSync(path, 'utf8').split('\n')[1];
  expect(line).toContain(`"'=HYPERLINK(""http://x"",""y"")"`);
  expect(line).toContain("'+cmd|calc");
});

test('a whatsapp column and a WhatsApp template whose variables are filled per row', () => {
  const spec = {
    campaignId: 'wa',
    templates: { message: '{{lastName}}様、明日のご予約です' },
    whatsapp: { template: 'appointment_reminder', variables: { '1': '{{lastName}}', '2': '{{date}}' } },
    keyColumn: 'userId',
    serviceLocale: 'ja-JP',
  };
  const ok = requestOf({ userId: 'u1', whatsapp: '090-1234-5678', lastName: '山田', date: '12月3日' }, 1, spec);
  expect(ok.problems).toEqual([]);
  expect(ok.params).toMatchObject({
    whatsapp: '090-1234-5678',
    template: 'appointment_reminder',
    variables: JSON.stringify({ '1': '山田', '2': '12月3日' }),
  });
  // a variable's empty cell refuses the row, as a message's does
  const empty = requestOf({ userId: 'u2', whatsapp: '090-1234-5678', lastName: '山田', date: '' }, 2, spec);
  expect(empty.problems).toEqual([{ field: 'date', message: '{{date}} has no value in this row' }]);
  expect(unknownPlaceholders(spec.templates, ['userId', 'lastName'], spec.whatsapp)).toEqual(['date']);
  // a sendAt is judged by the channels the row reaches: WhatsApp schedules as SMS does, 15 minutes to 35 days ahead
  const now = Date.parse('2026-12-01T00:00:00Z');
  const row = { userId: 'u3', whatsapp: '090-1234-5678', lastName: '山田', date: '12月3日' };
  const at = (sendAt: string) => requestOf(row, 3, { ...spec, sendAt }, now).problems.map((p) => p.field);
  expect(at('2026-12-01T11:00:00+09:00')).toEqual([]);
  expect(at('2026-12-01T09:05:00+09:00')).toEqual(['sendAt']);
});
