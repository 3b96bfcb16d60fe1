/**
 * Runs last (tests/setup/sequencer.js): the functions' and the sandbox's log
 * of the whole suite must hold no phone number, email address or message body.
 */
import { readFileSync } from 'node:fs';
import { LOG_FILE } from './setup/paths';

// notification ids are often random UUIDs, whose digit groups (…-0435-4607-8831-812663704692) can look like
// phone numbers to the patterns below: they are set aside before the search
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
const log = readFileSync(LOG_FILE, 'utf8');
const lines = log.split('\n').map((line) => line.replace(UUID, '<uuid>'));

test('the suite produced logs to check', () => {
  expect(log).toMatch(/\[(info|warn|error)\]/);
});

test.each([
  ['E.164 phone numbers', /\+\d{8,15}\b/],
  ['national-format phone numbers', /\b0\d{1,4}-\d{2,4}-\d{4}\b|\b0[789]0\d{8}\b/],
  ['bare international digits', /\b81\d{9,10}\b|\b1555\d{7}\b/],
  ['email addresses', /[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}/i],
  ['Japanese text (every Japanese message body of the suite)', /[\u3040-\u30ff\u4e00-\u9fff]/],
  ['English message bodies of the suite', /routed by the trait|from Studio|はい/],
])('no %s', (_what, pattern) => {
  const hits = lines.filter((line) => pattern.test(line));
  expect(hits).toEqual([]);
});
