/**
 * Proving the lift: a population routed with HOLDOUT_PERCENT=20 (the holdout by the tutorial's
 * trait), every engagement flowing back through the webhooks. /insights must equal, count for
 * count, what a Segment user computes from the events Segment received, and its lift interval must
 * contain the population's true lift (what the choices made were worth, from the simulated
 * contacts' known probabilities).
 */
/// <reference lib="dom" />
import { CHANNELS } from '../src/lib/channel-list';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { Channel } from '../src/lib/channel-list';
import { bucketOf } from '../src/lib/routing/holdout';
import { launchChromium } from './browser';
import { type Answer, clientOf, notifyEach, ownStack, type SegmentEvent } from './helpers';

const USERS = 60;
const ROUNDS = 5;
const OWN: Channel[] = ['SMS', 'CALL', 'EMAIL'];
/** each contact answers its own channel almost always and the others rarely */
const P_OWN = 0.95;
const P_OTHER = 0.03;

type Client = Awaited<ReturnType<typeof ownStack>>;
let stack: Client;
let browser: Browser | undefined;
/** /insights as the population test left it, for the page test */
let reported: any;
beforeAll(async () => {
  stack = await ownStack(() => ({
    SANDBOX_CALLBACK_DELAY_MS: '20',
    RECOVERY_SWEEP_SECONDS: '0',
    HOLDOUT_PERCENT: '20',
    HOLDOUT_POLICY: 'trait',
  }));
}, 120_000);
afterAll(() => Promise.all([stack?.stop(), browser?.close()]));

const user = (i: number) => ({
  userId: `lift-${i}`,
  phone: `+8190${String(40_000_000 + i).slice(-8)}`,
  email: `lift${i}@example.jp`,
  own: OWN[i % 3],
});
const engageOf = (own: Channel) =>
  Object.fromEntries(OWN.map((c) => [c, c === own ? P_OWN : P_OTHER])) as Record<Channel, number>;

/** distinct notification ids of `events` matching `keep` */
const distinct = (events: SegmentEvent[], keep: (e: SegmentEvent) => boolean) =>
  new Set(events.filter(keep).map((e) => e.properties?.notification_id as string));

test('/insights equals the counts taken from Segment, and its lift interval contains the true lift', async () => {
  const c = clientOf(stack.urls);
  await c.sandbox.reset(true);
  for (let i = 0; i < USERS; i++) {
    const u = user(i);
    const engage = engageOf(u.own);
    // every 9th contact's SMS never arrives: failures are counted too
    const unreachable: Channel[] = i % 9 === 4 ? ['SMS'] : [];
    await c.sandbox.contact(u.phone, { engage, reply: 'はい', unreachable });
    await c.sandbox.contact(u.email, { engage });
    // the tutorial's trait: the most frequent channel, right for a third of the users
    await c.sandbox.traits(u.userId, { preferred_channel: 'SMS' });
  }
  const answers: Answer[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await notifyEach({ notify: async (p) => answers[answers.push(await c.notify(p)) - 1] }, USERS, (i) => {
      const { own: _own, ...u } = user(i);
      return { ...u, notificationId: `lift-${round}-${i}`, message: 'ご予約の確認です' };
    });
    await c.sandbox.settle();
  }
  // an explicit channel is counted apart
  const override = await c.notify({ ...user(0), own: undefined, channel: 'email', message: 'お知らせ' });
  expect(override.body).toMatchObject({ group: 'override' });
  await c.sandbox.settle();

  // the holdout is exactly the users whose stable bucket is under 20, and says so everywhere
  const holdoutUsers = new Set(
    Array.from({ length: USERS }, (_, i) => user(i).userId).filter((id) => bucketOf(id) < 20),
  );
  expect(holdoutUsers.size).toBeGreaterThan(5);
  for (const a of answers) {
    const inHoldout = holdoutUsers.has(a.body.userId);
    expect(a.body).toMatchObject({ group: inHoldout ? 'holdout' : 'learned', policy: inHoldout ? 'trait' : 'learned' });
    expect(a.body.holdout).toBe(inHoldout ? true : undefined);
  }

  const report = await expectInsightsEqualSegment(c);
  reported = report;
  expect(report.groups.learned.notifications + report.groups.holdout.notifications).toBe(USERS * ROUNDS);
  expect(report.channels.SMS.failed).toBeGreaterThan(0);

  // the true lift: what each arm's choices were worth, from the contacts' probabilities
  const expected = (group: string) => {
    const mine = answers.filter((a) => a.body.group === group);
    const worth = mine.map((a) => {
      const i = Number(a.body.userId.split('-')[1]);
      return a.body.channel === 'SMS' && i % 9 === 4 ? 0 : engageOf(user(i).own)[a.body.channel as Channel];
    });
    return worth.reduce((s, p) => s + p, 0) / mine.length;
  };
  const [learned, holdout] = [expected('learned'), expected('holdout')];
  const { lift } = report;
  console.log(
    `learned ${report.groups.learned.engaged}/${report.groups.learned.notifications}, holdout ${report.groups.holdout.engaged}/${report.groups.holdout.notifications}; true lift ${(learned - holdout).toFixed(3)}; reported ${lift.difference.toFixed(3)} [${lift.differenceInterval.map((x: number) => x.toFixed(3))}], ratio ${lift.ratio.toFixed(2)} [${lift.ratioInterval.map((x: number) => x.toFixed(2))}]`,
  );
  expect(lift.differenceInterval[0]).toBeLessThanOrEqual(learned - holdout);
  expect(lift.differenceInterval[1]).toBeGreaterThanOrEqual(learned - holdout);
  expect(lift.ratioInterval[0]).toBeLessThanOrEqual(learned / holdout);
  expect(lift.ratioInterval[1]).toBeGreaterThanOrEqual(learned / holdout);
  // the engagement intervals are Wilson's, around each group's rate
  const l = report.groups.learned;
  expect(l.engagement.rate).toBeCloseTo(l.engaged / l.notifications, 10);
  expect(l.engagement.interval[0]).toBeLessThan(l.engagement.rate);
  // per day, per group, and the learner's prior
  expect(report.daily.length).toBeGreaterThan(0);
  expect(report.daily.reduce((n: number, d: any) => n + (d.learned?.notifications ?? 0), 0)).toBe(l.notifications);
  expect(Object.keys(report.prior.channels).sort()).toEqual([...CHANNELS].sort());
  // per band of the user's day: the channel's mean moved by the band's effect
  for (const ch of ['SMS', 'CALL', 'EMAIL']) {
    const bands = report.prior.bands[ch];
    expect(Object.keys(bands).sort()).toEqual(['afternoon', 'evening', 'morning', 'night']);
    for (const b of Object.values(bands) as Array<{ mean: number; effect: number }>)
      expect(b.mean).toBeCloseTo(Math.min(0.995, Math.max(0.005, report.prior.channels[ch].mean * b.effect)), 10);
  }
  // how far the population's kinds are trusted against the learner without them (habits.ts's trustOf)
  expect(report.prior.kinds.trust).toBeGreaterThanOrEqual(0);
  expect(report.prior.kinds.trust).toBeLessThanOrEqual(1);
  expect(report.outbox).toEqual({ waiting: 0, deadLetters: [] });
}, 300_000);

test('/insights refuses a bad window and callers without the key', async () => {
  const c = clientOf(stack.urls);
  const headers = { Authorization: 'Bearer sandbox-notify-api-key' };
  const bad = await c.call('GET', '/insights?since=yesterday', { headers });
  expect(bad.status).toBe(400);
  expect(bad.body.error).toMatchObject({ field: 'since' });
  const old = await c.call('GET', '/insights?since=2020-01-01', { headers });
  expect(old.body.error).toMatchObject({ field: 'since' });
  expect((await c.call('GET', '/insights?since=61d', { headers })).body.error).toMatchObject({ field: 'since' });
  const week = await c.call('GET', '/insights?since=7d', { headers });
  expect(week.status).toBe(200);
  expect(Date.parse(week.body.until) - Date.parse(week.body.since)).toBe(6 * 86_400_000);
  expect((await c.call('GET', '/insights')).status).toBe(401);
});

test('the insights page asks for the key, then shows the groups, the lift with its interval, the daily chart and the channels, in Japanese', async () => {
  expect(reported).toBeDefined(); // the population test above filled the stack
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: 'ja-JP' });
  // a machine with Japanese fonts (the headless browser has none): Noto Sans JP from @fontsource,
  // linked into the page as it is served, so that it is there from the first paint as an installed font is
  const fontDir = join(__dirname, '../node_modules/@fontsource/noto-sans-jp');
  await page.route('**/__test-fonts/**', (route) =>
    route.fulfill({ path: join(fontDir, new URL(route.request().url()).pathname.replace('/__test-fonts/', '')) }),
  );
  await page.route('**/insights.html', async (route) => {
    const served = await route.fetch();
    const html = (await served.text()).replace(
      '</head>',
      '<link rel="stylesheet" href="/__test-fonts/400.css"></head>',
    );
    await route.fulfill({ response: served, body: html });
  });
  await page.goto(`${stack.urls.functionsUrl}/insights.html`);
  await page.locator('#login').waitFor({ state: 'visible' });
  expect(await page.locator('#login label').textContent()).toBe('API キー（INSIGHTS_API_KEY）');
  // a wrong key is refused and forgotten
  await page.fill('#key', 'wrong');
  await page.click('#login button');
  await page.locator('#login-error').waitFor({ state: 'visible' });
  expect(await page.evaluate(() => sessionStorage.getItem('notify-insights-key'))).toBeNull();
  // the read-only key (INSIGHTS_API_KEY), not the one that sends
  await page.fill('#key', 'sandbox-insights-api-key');
  await page.click('#login button');
  await page.locator('[data-testid="group-learned"]').waitFor();
  // what /insights reported, as the page shows it
  const learned = reported.groups.learned;
  const text = async (id: string) => (await page.locator(`[data-testid="${id}"]`).textContent()) ?? '';
  expect(await text('group-learned')).toContain('学習ルーティング');
  expect(await text('group-learned')).toContain(`${(learned.engagement.rate * 100).toFixed(1)} %`);
  expect(await text('group-learned')).toContain(`${learned.engaged} / ${learned.notifications}`);
  expect(await text('group-holdout')).toContain('ホールドアウト');
  const d = reported.lift.difference * 100;
  expect(await text('lift-difference')).toBe(`${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} ポイント`);
  expect(await text('lift')).toContain(reported.lift.differenceInterval[0] > 0 ? '学習ルーティングの方が' : '');
  // the chart is drawn by uPlot (one canvas, a legend entry per group)
  expect(await page.locator('[data-testid="chart"] canvas').count()).toBe(1);
  const legend = await page.locator('[data-testid="chart"] .u-legend').textContent();
  expect(legend).toContain('学習ルーティング');
  expect(legend).toContain('ホールドアウト');
  expect(await page.locator('[data-testid="prior-bands"] thead').textContent()).toContain('朝 6–12 時');
  const rows = await page.locator('[data-testid="channels"] tbody tr').allTextContents();
  expect(rows).toHaveLength(3);
  expect(rows.join('|')).toContain('メール');
  // the estimated spend per group and channel, in /insights' currency (formatted as the page formats it)
  expect(await page.locator('[data-testid="spend"] thead').textContent()).toContain('反応 1 件あたり');
  const spent = await page.evaluate(
    ([total, currency]) =>
      new Intl.NumberFormat('ja', { style: 'currency', currency, maximumFractionDigits: 4 }).format(total),
    [learned.spend.total, reported.currency] as [number, string],
  );
  const spendRows = await page.locator('[data-testid="spend"] tbody tr').allTextContents();
  expect(spendRows.find((r) => r.startsWith('学習ルーティング'))).toContain(spent);
  // no ENGAGEMENT_VALUE here: the page says how to see net value
  expect(await text('net-value-lift')).toContain('ENGAGEMENT_VALUE');
  // the key lives only in this tab's session storage
  expect(await page.evaluate(() => sessionStorage.getItem('notify-insights-key'))).toBe('sandbox-insights-api-key');
  expect(await page.evaluate(() => localStorage.length)).toBe(0);
  // Japanese renders in a Japanese font (not the fallback boxes)
  const loaded = await page.evaluate(
    async () => (await document.fonts.load('14px "Noto Sans JP"', 'ホールドアウト')).length,
  );
  expect(loaded).toBeGreaterThan(0);
  await page.evaluate(() => document.fonts.ready);
  // every Japanese character on the page (Latin comes from the system font)
  const shown = [...new Set((await page.evaluate(() => document.body.textContent)) ?? '')].filter(
    (ch) => (ch.codePointAt(0) as number) >= 0x3000,
  );
  expect(shown.length).toBeGreaterThan(30);
  const missing = await page.evaluate(
    (chars) => chars.filter((ch) => !document.fonts.check('14px "Noto Sans JP"', ch)),
    shown,
  );
  expect(missing).toEqual([]);
  mkdirSync(join(__dirname, '../.test-logs'), { recursive: true });
  await page.screenshot({ path: join(__dirname, '../.test-logs/insights.png'), fullPage: true });
}, 60_000);

test('framed by another page, the insights page shows nothing and asks for no key', async () => {
  browser ??= await launchChromium();
  // a locale as a person's browser has one (the bare headless one's, en-US@posix, is no language tag)
  const page = await browser.newPage({ locale: 'en-US' });
  await page.setContent(
    `<iframe id="f" src="${stack.urls.functionsUrl}/insights.html" width="800" height="600"></iframe>`,
  );
  const frame = page.frameLocator('#f');
  await frame.locator('[data-testid="framed"]').waitFor();
  expect(await frame.locator('#login').count()).toBe(0);
  expect(await frame.locator('#key').count()).toBe(0);
  await page.close();
}, 60_000);

/**
 * /insights as it stands, checked count for count against what a Segment user computes from the
 * events Segment received: every track event about a notification carries its group.
 */
async function expectInsightsEqualSegment(c: ReturnType<typeof clientOf>) {
  const events = (await c.sandbox.events({ type: 'track' })).filter((e) => e.properties?.notification_id);
  expect(events.filter((e) => !e.properties?.group)).toEqual([]);
  const of = (group: string) => events.filter((e) => e.properties?.group === group);
  const res = await c.call('GET', '/insights', { headers: { Authorization: 'Bearer sandbox-notify-api-key' } });
  expect(res.status).toBe(200);
  const report = res.body;
  expect(report.complete).toBe(true);
  for (const group of ['learned', 'holdout', 'override']) {
    const g = of(group);
    const notified = distinct(g, (e) => ['Notification Sent', 'Notification Scheduled'].includes(e.event ?? ''));
    const engaged = distinct(g, (e) => e.event === 'Notification Engaged');
    const mix: Record<string, number> = {};
    for (const e of g.filter((e) => e.event === 'Notification Sent')) {
      mix[e.properties?.channel] = (mix[e.properties?.channel] ?? 0) + 1;
    }
    expect([group, report.groups[group].notifications, report.groups[group].engaged]).toEqual([
      group,
      notified.size,
      engaged.size,
    ]);
    const counted = Object.fromEntries(Object.entries(report.groups[group].mix).map(([ch, m]: any) => [ch, m.count]));
    expect(counted).toEqual(mix);
  }
  for (const channel of OWN) {
    const on = events.filter((e) => e.properties?.channel === channel);
    const pairs = (names: string[]) => distinct(on, (e) => names.includes(e.event ?? '')).size;
    expect([channel, report.channels[channel]]).toMatchObject([
      channel,
      {
        sent: pairs(['Notification Sent']),
        delivered: pairs(['Notification Delivered', 'Notification Answered']),
        failed: pairs(['Notification Failed']),
        engaged: pairs(['Notification Engaged']),
      },
    ]);
  }
  return report;
}

test('counts Sync refused to append are kept and appended by recovery: /insights still equals Segment', async () => {
  const c = clientOf(stack.urls);
  // every append to the prior's lists is refused for a while: /notify's and the webhooks' alike
  await c.sandbox.fault({ api: 'sync', status: 503, method: 'POST', path: '/Lists/prior-', count: 10_000 });
  await notifyEach(c, 12, (i) => {
    const { own: _own, ...u } = user(i);
    return { ...u, notificationId: `refused-${i}`, message: 'お知らせ' };
  });
  await c.sandbox.settle();
  await c.sandbox.fault({ api: 'sync', count: 0 });
  const before = (await c.call('GET', '/insights', { headers: { Authorization: 'Bearer sandbox-notify-api-key' } }))
    .body;
  const total = (r: any) => r.groups.learned.notifications + r.groups.holdout.notifications;
  expect(total(before)).toBe(USERS * ROUNDS); // none of the 12 is counted yet: their sums wait in parcels
  for (let i = 0; i < 5; i++) {
    const swept = await c.call('POST', '/recover', {
      headers: { Authorization: 'Bearer sandbox-notify-api-key' },
      json: {},
    });
    if (swept.body.remaining === 0) break;
  }
  const after = await expectInsightsEqualSegment(c);
  expect(total(after)).toBe(USERS * ROUNDS + 12);
  expect(after.outbox).toEqual({ waiting: 0, deadLetters: [] });
}, 60_000);
