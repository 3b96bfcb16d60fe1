/// <reference lib="dom" />
/**
 * The sandbox's dashboard (GET / on the sandbox) in a real headless Chromium
 * (@sparticuz/chromium, driven by playwright-core), against the suite's
 * running stack: what a person sees appears and changes without a reload,
 * Japanese renders, and the controls change the sandbox.
 */
import { CHANNELS } from '../src/lib/channel-list';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser';
import { notify, sandbox, stack } from './helpers';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
}, 60_000);

afterAll(() => browser?.close());

beforeEach(async () => {
  await sandbox.reset(false); // no simulated recipients: this test sends the callbacks
  await page.goto(`${stack.sandboxUrl}/`);
});

const row = (id: string) => page.locator(`[data-testid="row-${id}"]`);
interface Snapshot {
  clock: string;
  notifications: unknown[];
  contacts: Record<string, { engage?: Record<string, number>; optedOut?: boolean }>;
  faults: Record<string, { status?: number }>;
}
const snapshot = async (): Promise<Snapshot> => (await fetch(`${stack.sandboxUrl}/sandbox/dashboard.json`)).json();

/** What `read` answers once `ok` holds (polled for up to 5 s; the page's own polling takes up to 0.7 s). */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 50 && !ok(value); i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

test('a notification appears without reload, and its journey steps change state as callbacks arrive', async () => {
  const sent = await notify({
    userId: 'dash-1',
    phone: '+819012340001',
    email: 'dash1@example.jp',
    locale: 'ja-JP',
    message: '明日10時のご予約です',
    escalation: 'sms,email',
  });
  expect(sent.status).toBe(200);
  const id = sent.body.notificationId as string;
  await row(id).waitFor({ timeout: 5000 }); // polled in, no reload
  await expect(row(id).innerText()).resolves.toMatch(/SMS SENT[\s\S]*EMAIL SCHEDULED/);
  await expect(row(id).innerText()).resolves.toMatch(/(learned|trait) · escalation/); // policy · group

  const [sms] = await sandbox.messages();
  await sandbox.twilioCallback(sms.request.StatusCallback, {
    MessageSid: sms.resource.sid,
    MessageStatus: 'delivered',
    To: sms.request.To,
  });
  await page.waitForFunction(
    (rowId) => document.querySelector(`[data-testid="row-${rowId}"]`)?.textContent?.includes('SMS DELIVERED'),
    id,
    { timeout: 5000 },
  );
  await sandbox.inboundSms('+819012340001', 'はい、伺います');
  await page.waitForFunction(
    (rowId) => {
      const text = document.querySelector(`[data-testid="row-${rowId}"]`)?.textContent ?? '';
      return text.includes('SMS COMPLETED') && text.includes('EMAIL CANCELED');
    },
    id,
    { timeout: 5000 },
  );

  // the row opens on what the providers received and the callbacks, in Japanese
  await row(id).click();
  const detail = page.locator(`[data-testid="detail-${id}"]`);
  await detail.waitFor();
  const text = await detail.innerText();
  expect(text).toContain('明日10時のご予約です');
  expect(text).toMatch(/delivered → 200/);
  expect(text).toContain('はい、伺います');
  await page.evaluate(() => document.fonts.ready);
  expect(await page.evaluate(() => document.fonts.check('14px "Noto Sans JP"', '明日'))).toBe(true);
  // what the learner now expects of each channel for this user: SMS (replied) the best
  await expect(page.locator('[data-testid="user-dash-1"]').innerText()).resolves.toMatch(/dash-1\s+\d+% ★/);
  // and by time of day: a heat map of channels × bands, each cell its expected engagement in %
  const cells = page.locator('[data-testid="user-dash-1"] [data-testid^="heat-"]');
  await expect(cells.count()).resolves.toBe(CHANNELS.length * 4); // every channel of the one list × 4 bands
  await expect(
    page.locator('[data-testid="user-dash-1"] [data-testid="heat-SMS-evening"]').innerText(),
  ).resolves.toMatch(/^\d+$/);
  await expect(page.locator('[data-testid="segment"]').innerText()).resolves.toContain('Notification Engaged');

  mkdirSync(join(__dirname, '../.test-logs'), { recursive: true });
  await page.screenshot({ path: join(__dirname, '../.test-logs/dashboard.png') });
}, 30_000);

test('the dashboard links to the insights page the functions serve', async () => {
  const href = await page.locator('[data-testid="insights-link"]').getAttribute('href');
  expect(href).toBe(`${stack.functionsUrl}/insights.html`);
  const served = await fetch(href as string);
  expect(served.status).toBe(200);
  expect(await served.text()).toContain('<script src="insights.js"></script>');
});

test('the controls change the sandbox: contact behaviour, clock, fault, a send, reset', async () => {
  const contact = page.locator('[data-testid="contact-form"]');
  await contact.locator('input[name=address]').fill('+819012340002');
  await contact.locator('input[name=SMS]').fill('25');
  await contact.locator('input[name=optedOut]').check();
  await contact.locator('button').click();
  const contacts = await until(snapshot, (s) => Boolean(s.contacts['+819012340002']));
  expect(contacts.contacts['+819012340002']).toMatchObject({ engage: { SMS: 0.25 }, optedOut: true });

  const before = Date.parse((await snapshot()).clock);
  await page.locator('[data-testid="clock-form"] input[name=minutes]').fill('90');
  await page.locator('[data-testid="clock-form"] button').click();
  const moved = await until(snapshot, (s) => Date.parse(s.clock) - before >= 90 * 60_000);
  expect(Date.parse(moved.clock) - before).toBeGreaterThanOrEqual(90 * 60_000);

  await page.locator('[data-testid="fault-form"] select[name=api]').selectOption('segment');
  await page.locator('[data-testid="fault-form"] button').click();
  expect((await until(snapshot, (s) => Boolean(s.faults.segment))).faults.segment?.status).toBe(503);

  await page.locator('[data-testid="send-form"] input[name=userId]').fill('dash-2');
  await page.locator('[data-testid="send-form"] select[name=channel]').selectOption('email');
  await page.locator('[data-testid="send-form"] button').click();
  await page.locator('[data-testid="users"] >> text=dash-2').waitFor({ timeout: 5000 });
  await expect(page.locator('[data-testid="notifications"]').innerText()).resolves.toContain('EMAIL');

  await page.locator('[data-testid="reset-form"] button').click();
  expect((await until(snapshot, (s) => s.notifications.length === 0)).notifications).toEqual([]);
  await page.locator('[data-testid="notifications"] >> text=No notifications yet').waitFor({ timeout: 5000 });
}, 30_000);
