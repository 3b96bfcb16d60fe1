/**
 * Learning when as well as which, end to end: the same recipients, whose channel depends on the
 * hour (office workers read email by day and answer SMS in the evening; retirees pick up the phone
 * in the morning and text in the evening), get a notification every morning and every evening of
 * simulated days, the sandbox clock advanced to each. One stack routes with time bands (the
 * default), one without (ROUTING_TIME_BANDS=off); every engagement flows back through the webhooks.
 */
import { advanceToTokyoHour, clientOf, notifyEach, ownStack } from './helpers';

const USERS = 24;
// 12 days: enough for the learner to settle in every band on a busy machine too (8 left it short in about a third of full runs)
const DAYS = 12;
/** local times of the day's two sends (Asia/Tokyo): a morning band and an evening band */
const SEND_HOURS = [9, 19];

type Client = Awaited<ReturnType<typeof ownStack>>;
let aware: Client;
let ignoring: Client;
const env = (bands: 'on' | 'off') => () => ({
  SANDBOX_CALLBACK_DELAY_MS: '20',
  RECOVERY_SWEEP_SECONDS: '0',
  DEFAULT_TIMEZONE: 'Asia/Tokyo',
  ROUTING_TIME_BANDS: bands,
});

beforeAll(async () => {
  [aware, ignoring] = await Promise.all([ownStack(env('on')), ownStack(env('off'))]);
}, 120_000);
afterAll(() => Promise.all([aware?.stop(), ignoring?.stop()]));

const hours = (high: number[], p: number, otherwise = 0.05) =>
  Array.from({ length: 24 }, (_, h) => (high.includes(h) ? p : otherwise));
const DAY = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
const EVENING = [18, 19, 20, 21];
const MORNING = [8, 9, 10, 11];

const user = (i: number) => ({
  userId: `timed-${i}`,
  phone: `+8180${String(30_000_000 + i).slice(-8)}`,
  email: `timed${i}@example.jp`,
  office: i % 2 === 0,
});

async function setUp(c: Client) {
  await c.sandbox.reset(true);
  for (let i = 0; i < USERS; i++) {
    const u = user(i);
    const engageByHour = u.office
      ? { EMAIL: hours(DAY, 0.9), SMS: hours(EVENING, 0.9), CALL: hours([], 0) }
      : { CALL: hours(MORNING, 0.9), SMS: hours(EVENING, 0.8), EMAIL: hours([], 0.05) };
    await c.sandbox.contact(u.phone, { engageByHour, reply: 'はい' });
    await c.sandbox.contact(u.email, { engageByHour });
  }
}

async function run(c: Client): Promise<{ engaged: number; late: number }> {
  let lateFrom = 0;
  for (let day = 0; day < DAYS; day++) {
    if (day === DAYS / 2) lateFrom = (await c.sandbox.events({ type: 'track', event: 'Notification Engaged' })).length;
    for (const hour of SEND_HOURS) {
      await advanceToTokyoHour(c, hour);
      await notifyEach(c, USERS, (i) => {
        const { office: _o, ...u } = user(i);
        return { ...u, message: 'ご確認ください' };
      });
      await c.sandbox.settle();
    }
  }
  const engaged = (await c.sandbox.events({ type: 'track', event: 'Notification Engaged' })).length;
  return { engaged, late: engaged - lateFrom };
}

test('routing by the time of day beats routing that ignores it on the same recipients', async () => {
  await Promise.all([setUp(aware), setUp(ignoring)]);
  const [withTime, without] = await Promise.all([run(aware), run(ignoring)]);
  // the best channel at each send engages ~85–90 % of the time: an oracle earns ~0.87 per notification
  const sends = USERS * DAYS * SEND_HOURS.length;
  console.log(
    `engagements over ${USERS} users × ${DAYS} days × ${SEND_HOURS.length} bands (${sends} sends): time-aware ${withTime.engaged} (last ${DAYS / 2} days ${withTime.late}), ignoring time ${without.engaged} (${without.late})`,
  );
  // a clear margin where learning has settled: the second half of the days
  expect(withTime.late).toBeGreaterThan(without.late * 1.25);
  expect(withTime.engaged).toBeGreaterThan(without.engaged);
}, 300_000);

test('/channel answers for another time with at=, and Segment hears the best channel per band', async () => {
  const c = clientOf(aware.urls);
  const clock = new Date((await aware.sandbox.status()).clock);
  const day = clock.toISOString().slice(0, 10);
  const ask = async (u: ReturnType<typeof user>, at: string) =>
    (
      await c.call(
        'GET',
        `/channel?userId=${u.userId}&phone=${encodeURIComponent(u.phone)}&email=${u.email}&at=${encodeURIComponent(at)}`,
        { headers: { Authorization: 'Bearer sandbox-notify-api-key' } },
      )
    ).body;
  // the office workers (email by day, SMS in the evening): what each has learned is a random walk of
  // 24 sends, so the test asks of them all, not of one (a single user can still be exploring)
  const office = Array.from({ length: USERS }, (_, i) => user(i)).filter((u) => u.office);
  const answers = await Promise.all(
    office.map(async (u) => ({
      u,
      morning: await ask(u, `${day}T10:00:00+09:00`),
      evening: await ask(u, `${day}T19:30:00+09:00`),
    })),
  );
  for (const a of answers) {
    expect(a.morning.band).toBe('morning');
    expect(a.evening.band).toBe('evening');
  }
  const learned = answers.filter((a) => a.morning.best === 'EMAIL' && a.evening.best === 'SMS');
  console.log(`office workers answered morning EMAIL and evening SMS: ${learned.length} of ${office.length}`);
  expect(learned.length).toBeGreaterThanOrEqual(office.length / 2);
  for (const a of learned) expect(a.morning.scores.EMAIL.expected).toBeGreaterThan(a.evening.scores.EMAIL.expected);
  // Segment heard it: each such user's last identify names the best channel per band
  const heard = await Promise.all(
    learned.map(async (a) => {
      const identifies = (await aware.sandbox.events({ type: 'identify', userId: a.u.userId })).filter(
        (e) => e.traits?.best_channel_by_time,
      );
      return identifies.at(-1)?.traits?.best_channel_by_time as Record<string, string> | undefined;
    }),
  );
  const agreeing = heard.filter((h) => h?.morning === 'EMAIL' && h?.evening === 'SMS');
  console.log(`of those, Segment last heard the same per band for ${agreeing.length}`);
  expect(agreeing.length).toBeGreaterThanOrEqual(learned.length / 2);
});

test('sendAt=best picks the time (and channel), and says what it expects of it and of now', async () => {
  await advanceToTokyoHour(aware, 19); // the evening: this office worker reads no email now, and does in the morning
  const u = user(0);
  const res = await aware.notify({
    userId: u.userId,
    email: u.email,
    channel: 'email',
    message: '明日のご予約',
    sendAt: 'best',
    within: 'PT24H',
    quietHours: '21:00-08:00',
  });
  expect(res.status).toBe(200);
  // not now (the evening, when this user reads no email), out of quiet hours, within the day, and
  // worth more than now: the morning (known good) or the afternoon (unknown: the user's overall rate)
  expect(res.body).toMatchObject({ channel: 'EMAIL', status: 'scheduled' });
  expect(['morning', 'afternoon']).toContain(res.body.band);
  const sendAt = Date.parse(res.body.sendAt);
  const localHour = new Date(sendAt + 9 * 3_600_000).getUTCHours();
  expect(localHour).toBeGreaterThanOrEqual(8);
  expect(localHour).toBeLessThan(18);
  expect(sendAt - Date.parse((await aware.sandbox.status()).clock)).toBeLessThanOrEqual(24 * 3_600_000);
  expect(res.body.expected).toBeGreaterThan(res.body.expectedNow);
  // what SendGrid was asked: the email at that time (send_at in seconds)
  const emails = await aware.sandbox.emails();
  const asked = emails.filter((e: any) => JSON.stringify(e.request).includes(u.email)).at(-1);
  expect(asked.request.send_at).toBe(sendAt / 1000);
  // refused with the field named: a window longer than Twilio schedules
  const refused = await aware.notify({
    userId: u.userId,
    phone: u.phone,
    message: 'x',
    sendAt: 'best',
    within: 'P40D',
  });
  expect(refused.status).toBe(400);
  expect(refused.body.error).toMatchObject({ field: 'within' });
});
