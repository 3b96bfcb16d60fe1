/**
 * The learning loop end to end: the same 60 simulated recipients (each with
 * one channel they mostly answer) get 15 notifications each, routed by the
 * default policy (learned) on a stack of its own, and by ROUTING_POLICY=trait
 * on the suite's shared stack with Segment's "most frequent" computed trait
 * emulated between rounds. Every engagement flows back through the webhooks.
 */
import { bearer, clientOf, notifyEach, ownStack, stack as shared } from './helpers';

const USERS = 60;
const ROUNDS = 15;
const CHANNELS = ['SMS', 'CALL', 'EMAIL'] as const;

let learned: Awaited<ReturnType<typeof ownStack>>;
const trait = clientOf(shared);

beforeAll(async () => {
  learned = await ownStack(() => ({ SANDBOX_CALLBACK_DELAY_MS: '20', RECOVERY_SWEEP_SECONDS: '0' }));
}, 90_000);

afterAll(() => learned?.stop());

const user = (i: number) => ({
  userId: `learner-${i}`,
  phone: `+8180${String(20_000_000 + i).slice(-8)}`,
  email: `learner${i}@example.jp`,
  favourite: CHANNELS[i % 3],
});

async function setUp(c: ReturnType<typeof clientOf>) {
  await c.sandbox.reset(true);
  for (let i = 0; i < USERS; i++) {
    const u = user(i);
    const engage = Object.fromEntries(CHANNELS.map((ch) => [ch, ch === u.favourite ? 0.8 : 0.1]));
    await c.sandbox.contact(u.phone, { engage, reply: 'はい' });
    await c.sandbox.contact(u.email, { engage });
  }
}

/** Segment's computed trait "most frequent engaged channel, once it has 3", as the tutorial sets it up. */
async function computeTraits(c: ReturnType<typeof clientOf>) {
  const counts = new Map<string, Record<string, number>>();
  for (const e of await c.sandbox.events({ type: 'track', event: 'Notification Engaged' })) {
    const byChannel = counts.get(e.userId as string) ?? {};
    byChannel[e.properties?.channel] = (byChannel[e.properties?.channel] ?? 0) + 1;
    counts.set(e.userId as string, byChannel);
  }
  for (const [userId, byChannel] of counts) {
    const [top, n] = Object.entries(byChannel).sort((a, b) => b[1] - a[1])[0];
    if (n >= 3) await c.sandbox.traits(userId, { preferred_channel: top.toLowerCase() });
  }
}

async function run(c: ReturnType<typeof clientOf>, between?: () => Promise<void>): Promise<number> {
  for (let round = 0; round < ROUNDS; round++) {
    await notifyEach(c, USERS, (i) => {
      const u = user(i);
      return { userId: u.userId, phone: u.phone, email: u.email, message: 'ご確認ください' };
    });
    await c.sandbox.settle();
    await between?.();
  }
  return (await c.sandbox.events({ type: 'track', event: 'Notification Engaged' })).length;
}

test('the learned policy earns more engagement than the trait policy on the same recipients', async () => {
  await Promise.all([setUp(learned), setUp(trait)]);
  const [byLearning, byTrait] = await Promise.all([run(learned), run(trait, () => computeTraits(trait))]);
  // a recipient's favourite channel engages 80 % of the time, the others 10 %: the oracle earns ~720
  console.log(`engagements over ${USERS} × ${ROUNDS}: learned ${byLearning}, trait ${byTrait}`);
  expect(byLearning).toBeGreaterThan(byTrait);

  // what was learned is explained: /channel's scores, the policy in the record, and identify traits in Segment.
  // Recipients engage at random, so a few may still be unlucky after 15 rounds: most must be learned (53–56 of 60 here).
  const channelOf = (v: ReturnType<typeof user>) =>
    learned.call('GET', `/channel?userId=${v.userId}&phone=${encodeURIComponent(v.phone)}&email=${v.email}`, {
      headers: bearer,
    });
  const answers = await Promise.all(Array.from({ length: USERS }, (_, i) => channelOf(user(i))));
  const right = answers.map((a, i) => a.body.best === user(i).favourite);
  console.log(`best channel learned for ${right.filter(Boolean).length} of ${USERS} recipients`);
  expect(right.filter(Boolean).length).toBeGreaterThanOrEqual(USERS * 0.7);
  // A learned favourite rests on its sends: most recipients' has been tried more than 3 times. (One
  // unlucky early on may have it named after only 2, both answered: so not asserted of any one recipient.)
  const tried = answers.filter((a, i) => right[i] && a.body.scores[user(i).favourite].sent > 3);
  console.log(`favourite learned after more than 3 sends for ${tried.length} of ${USERS} recipients`);
  expect(tried.length).toBeGreaterThanOrEqual(USERS * 0.7);
  const at = answers.indexOf(tried[0]);
  const u = user(at);
  const channel = answers[at];
  expect(channel.body).toMatchObject({ policy: 'learned', best: u.favourite });
  for (const other of CHANNELS.filter((ch) => ch !== u.favourite))
    expect(channel.body.scores[u.favourite].expected).toBeGreaterThan(channel.body.scores[other].expected);
  // Segment hears what was learned at each engagement: the last identify of most recipients names
  // their favourite (one made just after a rare engagement elsewhere may name that channel)
  const identifies = await learned.sandbox.events({ type: 'identify' });
  const lastOf = (userId: string) => identifies.filter((e) => e.userId === userId && e.traits?.best_channel).at(-1);
  expect(lastOf(u.userId)?.traits).toMatchObject({
    best_channel: expect.any(String),
    channel_scores: expect.any(Object),
  });
  const named = Array.from(
    { length: USERS },
    (_, i) => lastOf(user(i).userId)?.traits?.best_channel === user(i).favourite,
  );
  console.log(`last identify names the favourite for ${named.filter(Boolean).length} of ${USERS} recipients`);
  expect(named.filter(Boolean).length).toBeGreaterThanOrEqual(USERS * 0.7);
}, 240_000);
