/// <reference lib="dom" />
/**
 * The insights page (src/assets/insights.html), bundled with uPlot into
 * dist/assets/insights.js at build: it asks for the API key (kept in the
 * tab's session storage only), reads GET /insights and shows engagement by
 * group with its intervals and the lift, engagement per day per group, the
 * channel mix, the per-channel rates, and the estimated spend and net value
 * per group and channel. Text is set with textContent only.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type Channel, CHANNELS } from '../lib/channel-list';
import { type Lift, type Rate, wilson } from '../lib/insights/intervals';
import type { ChannelReport, GroupReport, InsightsReport, Spend } from '../lib/insights/report';

interface Insights extends InsightsReport {
  complete: boolean;
  config: { routingPolicy: string; holdoutPercent: number; holdoutPolicy: string; frequencyCap: string | null };
  prior: {
    channels: Partial<Record<Channel, { mean: number; strength: number }>>;
    /** with time bands: per channel, per band of the user's day */
    bands: Partial<Record<Channel, Record<string, { mean: number; effect: number }>>>;
  };
  outbox: { waiting: number; deadLetters?: Array<{ parcel: string; kind: string; items: number; error: string }> };
}

const TEXT = {
  en: {
    title: 'Insights',
    window: 'Window',
    days: 'days',
    refresh: 'Refresh',
    logout: 'Forget key',
    keyLabel: 'API key (INSIGHTS_API_KEY)',
    show: 'Show insights',
    keyNote: 'Kept in this browser tab only (session storage), sent only to this service.',
    badKey: 'The key was refused.',
    failed: 'Could not read /insights',
    learned: 'Learned routing',
    holdout: 'Holdout',
    trait: 'Trait routing',
    override: 'Explicit channel',
    escalation: 'Escalations',
    notifications: 'notifications',
    engaged: 'engaged',
    suppressed: 'not sent: over the frequency cap',
    rate: 'Engagement rate',
    interval: '95 % interval',
    lift: 'Lift of learned over holdout',
    difference: 'Difference',
    ratio: 'Ratio',
    points: 'pt',
    liftGood: 'Learned routing engages more: the whole interval is above zero.',
    liftBad: 'Learned routing engages less: the whole interval is below zero.',
    liftUnsure: 'Not distinguishable yet: the interval includes zero. More notifications narrow it.',
    noHoldout: 'No holdout in this window: set HOLDOUT_PERCENT (for example 10) to measure the lift.',
    daily: 'Engagement per day',
    day: 'Day',
    mix: 'Channel mix (first channel)',
    channels: 'Per channel',
    channel: 'Channel',
    group: 'Group',
    sent: 'Sent',
    delivery: 'Delivered',
    failure: 'Failed',
    engagement: 'Engaged',
    prior: 'Learner prior (population mean)',
    priorBands: 'Learner prior by time of the user’s day',
    night: 'Night 0–6',
    morning: 'Morning 6–12',
    afternoon: 'Afternoon 12–18',
    evening: 'Evening 18–24',
    outbox: 'Waiting in the outbox',
    deadLetters: 'Given up on (npm run dead-letters to retry or drop)',
    settings: 'Settings',
    incomplete: 'Some counts are still being read: refresh in a minute.',
    framed: 'This page does not open inside another page. Open it in its own tab.',
    spend: 'Spend (estimated before each send)',
    spent: 'Spend',
    perNotification: 'Per notification',
    perSend: 'Per send',
    perEngagement: 'Per engagement',
    netValue: 'Net value',
    netValueNote:
      'Net value = engaged × ENGAGEMENT_VALUE − spend. Set ENGAGEMENT_VALUE (or ?value= on /insights) to see it.',
    netLift: 'Net value per notification, learned over holdout',
    SMS: 'SMS',
    CALL: 'Call',
    EMAIL: 'Email',
    WHATSAPP: 'WhatsApp',
  },
  ja: {
    title: 'インサイト',
    window: '期間',
    days: '日',
    refresh: '更新',
    logout: 'キーを消去',
    keyLabel: 'API キー（INSIGHTS_API_KEY）',
    show: '表示する',
    keyNote: 'このタブの中だけ（セッションストレージ）に保存し、このサービスにだけ送ります。',
    badKey: 'キーが拒否されました。',
    failed: '/insights を読み込めませんでした',
    learned: '学習ルーティング',
    holdout: 'ホールドアウト',
    trait: 'トレイトによるルーティング',
    override: 'チャネル指定',
    escalation: 'エスカレーション',
    notifications: '件の通知',
    engaged: '件の反応',
    suppressed: '件は送信頻度の上限により未送信',
    rate: '反応率',
    interval: '95 % 信頼区間',
    lift: 'ホールドアウトに対する学習ルーティングの改善幅',
    difference: '差',
    ratio: '比',
    points: 'ポイント',
    liftGood: '学習ルーティングの方が反応を得ています（区間全体がゼロより上）。',
    liftBad: '学習ルーティングの方が反応が少なくなっています（区間全体がゼロより下）。',
    liftUnsure: 'まだ差を判別できません（区間がゼロを含みます）。通知が増えると区間は狭まります。',
    noHoldout: 'この期間にホールドアウトがありません。改善幅を測るには HOLDOUT_PERCENT（例: 10）を設定してください。',
    daily: '日ごとの反応率',
    day: '日付',
    mix: 'チャネル構成（最初のチャネル）',
    channels: 'チャネル別',
    channel: 'チャネル',
    group: 'グループ',
    sent: '送信',
    delivery: '配信',
    failure: '失敗',
    engagement: '反応',
    prior: '学習の事前分布（全体の平均）',
    priorBands: '時間帯別の学習の事前分布（ユーザーの現地時間）',
    night: '深夜 0–6 時',
    morning: '朝 6–12 時',
    afternoon: '昼 12–18 時',
    evening: '夜 18–24 時',
    outbox: 'アウトボックスで待機中',
    deadLetters: '再試行を断念（npm run dead-letters で再試行または破棄）',
    settings: '設定',
    incomplete: '一部の集計を読み込み中です。1 分後に更新してください。',
    framed: 'このページは他のページの中では開けません。新しいタブで開いてください。',
    spend: '費用（送信前の見積もり）',
    spent: '費用',
    perNotification: '通知 1 件あたり',
    perSend: '送信 1 件あたり',
    perEngagement: '反応 1 件あたり',
    netValue: '純価値',
    netValueNote:
      '純価値 = 反応数 × ENGAGEMENT_VALUE − 費用。表示するには ENGAGEMENT_VALUE（または /insights の ?value=）を設定してください。',
    netLift: '通知 1 件あたりの純価値（学習ルーティング − ホールドアウト）',
    SMS: 'SMS',
    CALL: '電話',
    EMAIL: 'メール',
    WHATSAPP: 'WhatsApp',
  },
} as const;
type Key = keyof (typeof TEXT)['en'];

const lang: keyof typeof TEXT = (new URLSearchParams(location.search).get('lang') ?? navigator.language)
  .toLowerCase()
  .startsWith('ja')
  ? 'ja'
  : 'en';
const t = (k: Key | string): string => (TEXT[lang] as Record<string, string>)[k] ?? k;
const KEY = 'notify-insights-key';
const COLORS: Record<string, string> = { learned: '#1f6feb', holdout: '#bf8700', trait: '#8250df' };

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** An element with text and children; never HTML from data. */
function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const range = (r: [number, number], f: (x: number) => string) => `[${f(r[0])} – ${f(r[1])}]`;
const rateText = (r: Rate | null) => (r ? `${pct(r.rate)} ${range(r.interval, pct)}` : '–');
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`;

function groupCard(name: string, g: Insights['groups'][keyof Insights['groups']]) {
  if (!g) return el('div');
  return el(
    'div',
    { class: `card ${name}`, 'data-testid': `group-${name}` },
    el('h2', {}, t(name)),
    el('div', { class: 'big' }, g.engagement ? pct(g.engagement.rate) : '–'),
    el('div', { class: 'sub' }, `${t('interval')} ${g.engagement ? range(g.engagement.interval, pct) : '–'}`),
    el('div', {}, `${g.engaged.toLocaleString(lang)} / ${g.notifications.toLocaleString(lang)} ${t('notifications')}`),
    ...(g.suppressed ? [el('div', { class: 'sub' }, `${g.suppressed.toLocaleString(lang)} ${t('suppressed')}`)] : []),
  );
}

function liftCard(lift: Lift | null) {
  if (!lift) return el('div', { class: 'card', 'data-testid': 'lift' }, el('h2', {}, t('lift')), t('noHoldout'));
  const [lo, hi] = lift.differenceInterval;
  const verdict = lo > 0 ? 'good' : hi < 0 ? 'bad' : 'unsure';
  const ratio =
    lift.ratio !== null && lift.ratioInterval
      ? `×${lift.ratio.toFixed(2)} ${range(lift.ratioInterval, (x) => x.toFixed(2))}`
      : '–';
  return el(
    'div',
    { class: 'card', 'data-testid': 'lift' },
    el('h2', {}, t('lift')),
    el('div', { class: 'big', 'data-testid': 'lift-difference' }, `${signed(lift.difference)} ${t('points')}`),
    el('div', { class: 'sub' }, `${t('difference')} ${t('interval')} [${signed(lo)} – ${signed(hi)}] ${t('points')}`),
    el('div', { 'data-testid': 'lift-ratio' }, `${t('ratio')} ${ratio}`),
    el('p', { class: `verdict ${verdict}` }, t(`lift${verdict[0].toUpperCase()}${verdict.slice(1)}`)),
  );
}

function table(head: string[], rows: Array<Array<string | number>>, testid: string) {
  return el(
    'table',
    { 'data-testid': testid },
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
    el(
      'tbody',
      {},
      ...rows.map((r) =>
        el(
          'tr',
          {},
          ...r.map((c) =>
            typeof c === 'number' ? el('td', { class: 'num' }, c.toLocaleString(lang)) : el('td', {}, c),
          ),
        ),
      ),
    ),
  );
}

/** A titled section of the page. */
const section = (title: string, ...content: Array<Node | string>) => el('section', {}, el('h2', {}, title), ...content);

let chart: uPlot | undefined;
/** the page's own font stack (a canvas does not inherit it): Japanese day labels need a Japanese font */
const AXIS_FONT = '12px "Hiragino Sans", "Yu Gothic", Meiryo, "Noto Sans JP", system-ui, sans-serif';
const dayLabel = (seconds: number) =>
  new Date(seconds * 1000).toLocaleDateString(lang, { timeZone: 'UTC', month: 'short', day: 'numeric' });

function dailyChart(report: Insights, into: HTMLElement) {
  chart?.destroy();
  const days = report.daily.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
  const shown = (['learned', 'holdout', 'trait'] as const).filter((g) => report.daily.some((d) => d[g]));
  const rates = shown.map((g) => report.daily.map((d) => (d[g] ? d[g].rate * 100 : null)));
  // each day's 95 % interval (Wilson's, as /insights computes them), drawn as a band around its line
  const bounds = shown.flatMap((g) =>
    [1, 0].map((side) =>
      report.daily.map((d) => {
        const day = d[g];
        const r = day && wilson(day.engaged, day.notifications);
        return r ? r.interval[side] * 100 : null;
      }),
    ),
  );
  const data: uPlot.AlignedData = [days, ...rates, ...bounds];
  const bound = { stroke: 'transparent', points: { show: false }, spanGaps: true };
  chart = new uPlot(
    {
      width: Math.max(320, Math.min(1160, into.clientWidth || 900)),
      height: 260,
      scales: {
        // the window's days with half a day either side (uPlot's own range spans years for one day alone)
        x: { time: true, range: [(days[0] ?? 0) - 43_200, (days.at(-1) ?? 0) + 43_200] },
        y: { range: [0, 100] },
      },
      axes: [
        { font: AXIS_FONT, incrs: [86_400, 2 * 86_400, 7 * 86_400], values: (_u, ticks) => ticks.map(dayLabel) },
        { font: AXIS_FONT, values: (_u, ticks) => ticks.map((v) => `${v} %`) },
      ],
      series: [
        { label: t('day'), value: (_u: uPlot, v: number | null) => (v === null ? '–' : dayLabel(v)) },
        ...shown.map((g) => ({
          label: t(g),
          stroke: COLORS[g],
          width: 2,
          points: { show: true },
          spanGaps: true,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${v.toFixed(1)} %`),
        })),
        ...shown.flatMap((g) => [
          { ...bound, label: `${t(g)} ${t('interval')} ↑` },
          { ...bound, label: `${t(g)} ${t('interval')} ↓` },
        ]),
      ],
      bands: shown.map((g, i) => ({
        series: [1 + shown.length + 2 * i, 2 + shown.length + 2 * i] as [number, number],
        fill: `${COLORS[g]}26`,
      })),
    },
    data,
    into,
  );
  // the bounds are drawn, not listed: the legend keeps the day and one entry per group
  into.querySelectorAll<HTMLElement>('.u-legend .u-series').forEach((row, i) => {
    if (i > shown.length) row.style.display = 'none';
  });
  // a canvas is drawn once: again when web fonts have loaded
  void document.fonts?.ready.then(() => chart?.redraw(false, true));
}

/** The channels' table: sent, delivery, failure, engagement, and the population prior's mean. */
function channelsSection(report: Insights): HTMLElement {
  const channels = CHANNELS.filter((c) => report.channels[c]);
  const rows = channels.map((c) => {
    const r = report.channels[c];
    const prior = report.prior.channels[c];
    const rates = [r?.delivery, r?.failure, r?.engagement].map((x) => rateText(x ?? null));
    return [t(c), r?.sent ?? 0, ...rates, prior ? pct(prior.mean) : '–'];
  });
  const head = [t('channel'), t('sent'), t('delivery'), t('failure'), t('engagement'), t('prior')];
  return section(t('channels'), table(head, rows, 'channels'));
}

/** An amount in the report's currency (costs of a fraction of a cent keep four decimals). */
const money = (report: Insights, x: number | null) =>
  x === null
    ? '–'
    : new Intl.NumberFormat(lang, { style: 'currency', currency: report.currency, maximumFractionDigits: 4 }).format(x);

/** Spend per group and per channel: total, per notification (or send), per engagement with its interval, net value. */
function spendSection(report: Insights, groups: Array<keyof Insights['groups']>): HTMLElement {
  const m = (x: number | null) => money(report, x);
  const perEngagement = (sp: Spend) =>
    sp.perEngagement
      ? `${m(sp.perEngagement.cost)} [${m(sp.perEngagement.interval[0])} – ${sp.perEngagement.interval[1] === null ? '∞' : m(sp.perEngagement.interval[1])}]`
      : '–';
  const net = (sp: Spend) =>
    sp.netValue ? `${m(sp.netValue.total)} (${m(sp.netValue.perNotification)} ${t('perNotification')})` : '–';
  const row = (name: string, sp: Spend) => [name, m(sp.total), m(sp.perNotification), perEngagement(sp), net(sp)];
  const rows = [
    ...groups.flatMap((g) => (report.groups[g] ? [row(t(g), (report.groups[g] as GroupReport).spend)] : [])),
    ...CHANNELS.flatMap((c) => (report.channels[c] ? [row(t(c), (report.channels[c] as ChannelReport).spend)] : [])),
  ];
  const head = [t('group'), t('spent'), `${t('perNotification')} / ${t('perSend')}`, t('perEngagement'), t('netValue')];
  const lift = report.netValueLift;
  const liftLine = lift
    ? `${t('netLift')}: ${m(lift.difference)} [${m(lift.interval[0])} – ${m(lift.interval[1])}]`
    : t('netValueNote');
  return section(
    t('spend'),
    table(head, rows, 'spend'),
    el('p', { class: 'sub', 'data-testid': 'net-value-lift' }, liftLine),
  );
}

/** The prior per band of the user's day (in the order /insights gives them), when the learner has bands. */
function priorBandsSection(report: Insights): HTMLElement | undefined {
  const banded = CHANNELS.filter((ch) => report.prior.bands?.[ch]);
  if (!banded.length) return undefined;
  const bands = Object.keys(report.prior.bands[banded[0]] ?? {});
  const rows = banded.map((ch) => [t(ch), ...bands.map((b) => pct(report.prior.bands[ch]?.[b]?.mean ?? 0))]);
  return section(t('priorBands'), table([t('channel'), ...bands.map(t)], rows, 'prior-bands'));
}

/** The footer: the outbox, the settings that shape the figures, the period, dead letters, and whether all was read. */
function footer(report: Insights): HTMLElement[] {
  const c = report.config;
  const settings = `HOLDOUT_PERCENT=${c.holdoutPercent}, HOLDOUT_POLICY=${c.holdoutPolicy}, FREQUENCY_CAP=${c.frequencyCap ?? 'off'}`;
  const out = [
    el(
      'p',
      { class: 'sub', 'data-testid': 'footer' },
      `${t('outbox')}: ${report.outbox.waiting} · ${t('settings')}: ${settings} · ${report.since} – ${report.until}`,
    ),
  ];
  const dead = report.outbox.deadLetters ?? [];
  if (dead.length) {
    const listed = dead.map((d) => `${d.kind} ×${d.items}`).join(', ');
    out.push(
      el('p', { class: 'sub', 'data-testid': 'dead-letters' }, `${t('deadLetters')}: ${dead.length} (${listed})`),
    );
  }
  if (!report.complete) out.push(el('p', { class: 'sub' }, t('incomplete')));
  return out;
}

function render(report: Insights) {
  const main = $('report');
  main.replaceChildren();
  // as /insights lists them (learned, holdout, then the groups counted apart)
  const groups = Object.keys(report.groups) as Array<keyof Insights['groups']>;
  const cards = groups.slice(0, 2).map((g) => groupCard(g, report.groups[g]));
  main.append(el('section', {}, el('div', { class: 'grid' }, ...cards, liftCard(report.lift))));
  if (groups.length > 2)
    main.append(el('div', { class: 'grid' }, ...groups.slice(2).map((g) => groupCard(g, report.groups[g]))));
  const chartBox = el('div', { 'data-testid': 'chart' });
  main.append(section(t('daily'), chartBox));
  const mix = groups.map((g) => [t(g), ...CHANNELS.map((c) => pct(report.groups[g]?.mix[c]?.share ?? 0))]);
  main.append(section(t('mix'), table([t('group'), ...CHANNELS.map(t)], mix, 'mix')));
  main.append(channelsSection(report));
  main.append(spendSection(report, groups));
  const bands = priorBandsSection(report);
  if (bands) main.append(bands);
  main.append(...footer(report));
  main.hidden = false;
  dailyChart(report, chartBox);
}

function showLogin(message?: string) {
  $('report').hidden = true;
  $('login').hidden = false;
  const error = $('login-error');
  error.hidden = !message;
  error.textContent = message ?? '';
}

async function load() {
  const key = sessionStorage.getItem(KEY);
  if (!key) return showLogin();
  $('login').hidden = true;
  // the last N days by the service's clock, not this browser's
  const days = Number($<HTMLSelectElement>('window').value);
  const res = await fetch(`/insights?since=${days}d`, { headers: { Authorization: `Bearer ${key}` } }).catch(
    () => undefined,
  );
  if (res?.status === 401) {
    sessionStorage.removeItem(KEY);
    return showLogin(t('badKey'));
  }
  if (!res?.ok) {
    const main = $('report');
    main.replaceChildren(el('p', { class: 'error' }, `${t('failed')} (${res?.status ?? 'network'})`));
    main.hidden = false;
    return;
  }
  render((await res.json()) as Insights);
}

document.documentElement.lang = lang;
document.querySelectorAll<HTMLElement>('[data-i18n]').forEach((e) => {
  e.textContent = t(e.dataset.i18n as Key);
});
document.title = `${t('title')} · Channel-optimized notifications`;

/**
 * Framed by another page, the page neither asks for a key nor shows a figure: a frame could overlay
 * the key field (clickjacking). `frame-ancestors` would forbid the frame, but a <meta> CSP ignores
 * it and Twilio assets cannot send headers, so the page checks for itself.
 */
function framed(): boolean {
  try {
    return window.self !== window.top;
  } catch {
    return true; // a cross-origin parent cannot even be compared
  }
}

if (framed()) {
  document.body.replaceChildren(el('p', { class: 'error', 'data-testid': 'framed' }, t('framed')));
} else {
  start();
}

function start() {
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $<HTMLInputElement>('key').value.trim());
    $<HTMLInputElement>('key').value = '';
    void load();
  });
  $('refresh').addEventListener('click', () => void load());
  $('window').addEventListener('change', () => void load());
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    showLogin();
  });
  void load();
}
