/**
 * sandbox/contract.ts itself: what it calls a violation of the vendors' documents (the suite's
 * contract check, tests/sandbox-contract.test.ts, is only as good as this).
 */
import { ContractChecker } from '../sandbox/contract';

const checker = ContractChecker.load();
const ACCOUNT = 'AC00000000000000000000000000000000';
const doc = (dates: string) => ({
  sid: 'ET00000000000000000000000000000000',
  account_sid: ACCOUNT,
  service_sid: 'IS00000000000000000000000000000000',
  unique_name: 'n',
  revision: '0',
  data: {},
  date_created: dates,
  date_updated: dates,
  url: 'https://sync.twilio.com/v1/Services/IS00000000000000000000000000000000/Documents/ET00000000000000000000000000000000',
});
const createDocument = (answer: unknown, form: Record<string, string> = { UniqueName: 'n', Data: '{}' }) =>
  checker.check({
    method: 'POST',
    path: '/v1/Services/IS00000000000000000000000000000000/Documents',
    query: {},
    form,
    status: 201,
    answer,
  });

test('a Sync document dated in ISO 8601 is valid; in RFC 2822 (the 2010 API’s dates) it is not', () => {
  expect(createDocument(doc('2026-12-05T20:51:14Z'))?.violations).toEqual([]);
  expect(createDocument(doc('Sat, 05 Dec 2026 20:51:14 +0000'))?.violations).toEqual(
    expect.arrayContaining([expect.stringMatching(/date_created must match format "date-time"/)]),
  );
});

test('a 2010 Message dated in RFC 2822 is valid', () => {
  const at = 'Sat, 05 Dec 2026 20:51:14 +0000';
  const result = checker.check({
    method: 'POST',
    path: `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`,
    query: {},
    form: { To: '+819012345678', From: '+15005550006', Body: 'x', StatusCallback: 'https://example.com/cb' },
    status: 201,
    answer: { sid: 'SM00000000000000000000000000000000', account_sid: ACCOUNT, status: 'queued', date_created: at },
  });
  expect(result).toEqual({ operation: 'POST /2010-04-01/Accounts/{AccountSid}/Messages.json', violations: [] });
});

test('an undocumented parameter, a wrong enum and an undocumented status are violations', () => {
  expect(createDocument(doc('2026-12-05T20:51:14Z'), { UniqueName: 'n', Dta: '{}' })?.violations).toContain(
    'request: undocumented parameter Dta',
  );
  const flows = (status: number, form: Record<string, string>) =>
    checker.check({ method: 'POST', path: '/studio/v2/Flows', query: {}, form, status, answer: {} })?.violations;
  const form = { FriendlyName: 'f', Status: 'published', Definition: '{}' };
  expect(flows(200, form)).toContain('answered 200; documented 201');
  expect((flows(201, { ...form, Status: 'live' }) ?? []).join('\n')).toMatch(
    /Status must be equal to one of the allowed values/,
  );
});

test('an operation the documents do not have is a violation; Segment (no document) is not checked', () => {
  expect(checker.check({ method: 'DELETE', path: '/studio/v2/Flows', query: {}, status: 204 })?.violations).toEqual([
    'no such operation in the documents',
  ]);
  expect(checker.check({ method: 'POST', path: '/v1/track', query: {}, status: 200 })).toBeUndefined();
});
