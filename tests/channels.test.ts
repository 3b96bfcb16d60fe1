/**
 * The one list of channels (src/lib/channel-list.ts): a further channel appended to it, and to
 * nothing else, is learned (evidence, population sums, band keys, kinds of user, the router's
 * choice) and counted (/insights' tallies), and the counts stored before it keep their place.
 */
type Channels = typeof import('../src/lib/channel-list');

/** The modules, loaded afresh with `FAX` appended to CHANNELS. */
function withFourthChannel() {
  let loaded!: {
    learn: typeof import('../src/lib/routing/learn');
    bands: typeof import('../src/lib/routing/bands');
    habits: typeof import('../src/lib/routing/habits');
    tally: typeof import('../src/lib/insights/tally');
    report: typeof import('../src/lib/insights/report');
  };
  jest.isolateModules(() => {
    jest.doMock('../src/lib/channel-list', () => {
      const actual = jest.requireActual<Channels>('../src/lib/channel-list');
      return { ...actual, CHANNELS: [...actual.CHANNELS, 'FAX'] };
    });
    loaded = {
      learn: require('../src/lib/routing/learn'),
      bands: require('../src/lib/routing/bands'),
      habits: require('../src/lib/routing/habits'),
      tally: require('../src/lib/insights/tally'),
      report: require('../src/lib/insights/report'),
    };
  });
  return loaded;
}

// the modules' types know three channels; the fourth is a string to them
const FAX = 'FAX' as any;
const NOW = Date.UTC(2026, 11, 6, 3);
const o = { now: NOW, halfLifeDays: 30 };

test('a further channel (FAX) is learned: evidence, population sums, band keys, kinds of user, the choice', () => {
  const { learn, bands, habits } = withFourthChannel();
  let ev = {};
  for (let i = 0; i < 6; i++) ev = learn.observe(ev, FAX, 'sent', NOW, 30);
  for (let i = 0; i < 5; i++) ev = learn.observe(ev, FAX, 'engaged', NOW, 30);
  for (let i = 0; i < 6; i++) ev = learn.observe(ev, 'SMS', 'sent', NOW, 30);
  const sums = learn.sumsDelta({}, ev);
  expect(sums[FAX]).toMatchObject({ users: 1, n: 6, k: 5 });
  expect(learn.sumsOf(JSON.parse(JSON.stringify(sums)))[FAX]).toMatchObject({ n: 6, k: 5 }); // kept when stored
  expect(learn.SUMS_KEYS.has('FAX@evening')).toBe(true);
  expect(bands.bandSumsDelta({}, { evening: { [FAX]: { sent: 2, engaged: 1, failed: 0, at: NOW } } })).toHaveProperty(
    'FAX@evening',
  );
  expect(habits.KINDS.map((k) => k.name)).toEqual(expect.arrayContaining(['FAX:allday', 'FAX:day', 'FAX:evening']));
  expect(habits.habitsOf({}).kinds[0].rate).toHaveProperty('FAX@morning');
  const post = learn.posteriors(['SMS', 'CALL', FAX], learn.priorsOf(sums), ev, o);
  expect(learn.bestChannel(post)).toBe('FAX');
});

test('a further channel is counted, and the counts stored before it keep their place', () => {
  const { tally, report } = withFourthChannel();
  // stored before the fourth channel: 10 notifications, 5 engaged, first channel 4 SMS, 3 CALL, 2 EMAIL, 1 suppressed
  const stored = tally.tallyFrom({
    '2026-12-05': { g: { learned: [10, 5, 4, 3, 2, 1] }, c: { SMS: [4, 4, 0, 2] } },
  });
  const counted = tally.tallyOf(
    [
      { notificationId: 'n1', channel: FAX, kind: 'notified', group: 'learned', day: '2026-12-05' },
      { notificationId: 'n1', channel: FAX, kind: 'sent', group: 'learned', day: '2026-12-05' },
      { notificationId: 'n1', channel: FAX, kind: 'engaged', group: 'learned', day: '2026-12-05' },
    ],
    () => false,
  );
  const both = tally.tallyFrom(JSON.parse(JSON.stringify(tally.addTally(stored, counted))));
  const r = report.reportOf(both, '2026-12-01', '2026-12-06');
  expect(r.groups.learned).toMatchObject({
    notifications: 11,
    engaged: 6,
    suppressed: 1,
    mix: { SMS: { count: 4 }, CALL: { count: 3 }, EMAIL: { count: 2 }, FAX: { count: 1 } },
  });
  expect(r.channels).toMatchObject({ SMS: { sent: 4, engaged: 2 }, FAX: { sent: 1, engaged: 1 } });
  // taking the new counts back leaves exactly what was stored
  expect(tally.addTally(both, counted, -1)['2026-12-05'].g?.learned?.slice(0, 6)).toEqual([10, 5, 4, 3, 2, 1]);
});

test('WhatsApp, appended to the one list, reached every place a channel is named through it', () => {
  // the modules as they are (the tests above load them with a fifth, mocked channel)
  jest.dontMock('../src/lib/channel-list');
  let m!: Record<string, any>;
  jest.isolateModules(() => {
    m = {
      ...require('../src/lib/channel-list'),
      ...require('../src/lib/channels/registry'),
      learn: require('../src/lib/routing/learn'),
      habits: require('../src/lib/routing/habits'),
      ...require('../src/lib/routing/decide'),
    };
  });
  const { CHANNELS, CHANNEL_ADDRESS, CHANNEL_OPS, learn, habits, reachability } = m;
  expect(CHANNELS).toEqual(['SMS', 'CALL', 'EMAIL', 'WHATSAPP']);
  // the maps keyed by channel are typed Record<Channel, …>: a channel missing from one does not compile
  expect(Object.keys(CHANNEL_OPS)).toEqual([...CHANNELS]);
  expect(Object.keys(CHANNEL_ADDRESS)).toEqual([...CHANNELS]);
  // and everything derived from the list has it
  expect(learn.SUMS_KEYS.has('WHATSAPP@evening')).toBe(true);
  expect(habits.KINDS.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['WHATSAPP:evening']));
  expect(reachability({ phone: '+819012345678', whatsapp: '+819012345678' }).reachable).toEqual([
    'SMS',
    'CALL',
    'WHATSAPP',
  ]);
  expect(reachability({ phone: '+819012345678' }).unreachable).toMatchObject({ WHATSAPP: 'no WhatsApp number' });
});
