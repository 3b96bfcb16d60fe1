/**
 * The dashboard page (GET / on the sandbox): plain HTML, CSS and a small
 * script, no build step. It polls /sandbox/dashboard.json and redraws when
 * the snapshot's version changes; its controls call the sandbox's control API.
 */
import { CHANNELS } from '../src/lib/channel-list';
import { BANDS } from '../src/lib/routing/band-names';

/** The page, linking to the insights page the functions serve (src/assets/insights.html). */
export const dashboardHtml = (functionsUrl: string) => DASHBOARD_HTML.replace('__FUNCTIONS_URL__', functionsUrl);

const DASHBOARD_HTML = `<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Notifications sandbox</title>
<link rel="stylesheet" href="/fonts/noto-sans-jp/400.css">
<style>
  :root { --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --mute:#57606a; --line:#d0d7de; --bg:#f6f8fa; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Yu Gothic", "Noto Sans JP", sans-serif; color:#1f2328; }
  header { display:flex; gap:16px; align-items:center; padding:10px 16px; border-bottom:1px solid var(--line); background:var(--bg); position:sticky; top:0; z-index:1; }
  header h1 { font-size:16px; margin:0; }
  header .meta { color:var(--mute); }
  main { display:grid; grid-template-columns: minmax(0,3fr) minmax(0,2fr); gap:16px; padding:16px; }
  section { border:1px solid var(--line); border-radius:6px; margin-bottom:16px; overflow:hidden; }
  section h2 { font-size:13px; margin:0; padding:8px 12px; background:var(--bg); border-bottom:1px solid var(--line); display:flex; justify-content:space-between; }
  table { width:100%; border-collapse:collapse; }
  td, th { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
  th { font-weight:600; color:var(--mute); font-size:12px; }
  tr.notification { cursor:pointer; }
  tr.notification:hover { background:#f3f4f6; }
  .chip { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; margin:1px 4px 1px 0; border:1px solid var(--line); white-space:nowrap; }
  .s-SENT,.s-DELIVERED,.s-SCHEDULED { border-color:#54aeff; background:#ddf4ff; }
  .s-COMPLETED { border-color:#4ac26b; background:#dafbe1; }
  .s-FAILED { border-color:#ff8182; background:#ffebe9; }
  .s-CANCELED,.s-PENDING { background:#eaeef2; color:var(--mute); }
  .detail td { background:#fbfbfc; font-size:13px; }
  .detail .body { white-space:pre-wrap; }
  .mute { color:var(--mute); }
  code { font-size:12px; }
  .list { max-height:320px; overflow:auto; }
  form { display:flex; flex-wrap:wrap; gap:6px; align-items:center; padding:8px 12px; border-bottom:1px solid var(--line); }
  form b { min-width:120px; }
  input, select, button { font:inherit; font-family: "Noto Sans JP", system-ui, sans-serif; padding:3px 6px; }
  input[type=number] { width:64px; }
  button { cursor:pointer; }
  #status { color:var(--mute); }
</style>
</head>
<body>
<header>
  <h1>Notifications sandbox</h1>
  <span class="meta">clock <b data-testid="clock">…</b></span>
  <span class="meta" data-testid="counts"></span>
  <span id="status" data-testid="status"></span>
  <a class="meta" data-testid="insights-link" href="__FUNCTIONS_URL__/insights.html" target="_blank" rel="noopener">insights (lift, per channel) ↗</a>
</header>
<main>
  <div>
    <section>
      <h2>Notifications <span class="mute">click a row for what the providers received and the callbacks</span></h2>
      <table>
        <thead><tr><th>created</th><th>user</th><th>steps</th><th>reason</th><th>policy · group</th><th>state</th></tr></thead>
        <tbody data-testid="notifications"></tbody>
      </table>
    </section>
    <section>
      <h2>Users: what the learner knows <span class="mute">expected engagement per channel (★ best), engaged / sent, profile traits</span></h2>
      <table><thead><tr><th>user</th><th>SMS</th><th>CALL</th><th>EMAIL</th><th>by time of day (expected engagement)</th><th>traits</th></tr></thead>
      <tbody data-testid="users"></tbody></table>
    </section>
  </div>
  <div>
    <section>
      <h2>Controls</h2>
      <form data-testid="send-form"><b>Send</b>
        <input name="userId" placeholder="userId" value="taro" size="8">
        <input name="phone" placeholder="phone" value="090-1234-5678" size="13">
        <input name="email" placeholder="email" value="taro@example.jp" size="15">
        <input name="locale" placeholder="locale" value="ja-JP" size="5">
        <select name="channel"><option value="">routed</option><option>sms</option><option>call</option><option>email</option></select>
        <input name="message" placeholder="message" value="明日10時のご予約です" size="20">
        <button>POST /notify</button></form>
      <form data-testid="contact-form"><b>Contact behaviour</b>
        <input name="address" placeholder="phone or email" value="+819012345678" size="15">
        SMS <input name="SMS" type="number" min="0" max="100" value="80">%
        call <input name="CALL" type="number" min="0" max="100" value="10">%
        email <input name="EMAIL" type="number" min="0" max="100" value="10">%
        <label><input name="optedOut" type="checkbox"> opted out</label>
        <label><input name="invalidNumber" type="checkbox"> invalid number</label>
        <button>set</button></form>
      <form data-testid="inbound-form"><b>Inbound SMS</b>
        <input name="from" value="+819012345678" size="13"> <input name="body" value="はい" size="10"> <button>send</button></form>
      <form data-testid="clock-form"><b>Clock</b>
        <input name="minutes" type="number" value="60"> minutes <button>advance</button></form>
      <form data-testid="fault-form"><b>Fault</b>
        <select name="api"><option>twilio</option><option>sync</option><option>sendgrid</option><option>segment</option><option>profiles</option></select>
        status <input name="status" type="number" value="503"> × <input name="count" type="number" value="3"> <button>inject</button></form>
      <form data-testid="reset-form"><b>Reset</b>
        <label><input name="simulate" type="checkbox" checked> simulated recipients</label> <button>reset everything</button></form>
    </section>
    <section>
      <h2>Segment events <span class="mute" data-testid="duplicates"></span></h2>
      <div class="list"><table><tbody data-testid="segment"></tbody></table></div>
      <h2>Dropped as duplicates <span class="mute">Segment deduplicates on messageId (a retried webhook, a repeated open)</span></h2>
      <div class="list"><table><tbody data-testid="dropped"></tbody></table></div>
      <h2>Dead letters <span class="mute">parcels recovery gave up on: npm run dead-letters -- retry | drop</span></h2>
      <div class="list"><table><tbody data-testid="dead-letters"></tbody></table></div>
    </section>
  </div>
</main>
<script>
const $ = (s) => document.querySelector(s);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;' })[c]);
const time = (iso) => (iso ? new Date(iso).toLocaleString('ja-JP', { hour12: false }) : '');
const open = new Set();
let version = '';
let last;

function stepChips(steps) {
  return (steps || []).map((s) => '<span class="chip s-' + esc(s.status) + '" title="' + esc(s.error || '') + '">' +
    esc(s.channel) + ' ' + esc(s.status) + (s.scheduledAt ? ' @' + esc(time(s.scheduledAt)) : '') + '</span>').join('');
}
function detail(n) {
  const got = n.received.map((r) => '<div><b>' + esc(r.channel) + '</b> → ' + esc(r.to) + ' <span class="mute">' + esc(r.status) + '</span>' +
    (r.subject ? '<div>件名: ' + esc(r.subject) + '</div>' : '') + '<div class="body">' + esc(r.text) + '</div></div>').join('') || '<span class="mute">nothing sent yet</span>';
  const cbs = n.callbacks.map((c) => '<div><code>' + esc(c.kind) + '</code> ' + esc(c.what) + ' → ' + esc(c.status) + ' <span class="mute">' + esc(time(c.at)) + '</span></div>').join('') || '<span class="mute">none yet</span>';
  return '<tr class="detail" data-testid="detail-' + esc(n.notificationId) + '"><td colspan="6"><b>' + esc(n.notificationId) + '</b>' +
    '<div style="display:grid;grid-template-columns:1fr 1fr;gap:12px"><div><h4>What the providers received</h4>' + got + '</div>' +
    '<div><h4>Callbacks</h4>' + cbs + '</div></div></td></tr>';
}
/** a small heat map: channels × bands of the user's day, each cell shaded by its expected engagement */
function heat(byBand) {
  if (!byBand) return '';
  const bands = ${JSON.stringify(BANDS)};
  const head = '<tr><th></th>' + bands.map((b) => '<th title="' + b + '">' + b.slice(0, 3) + '</th>').join('') + '</tr>';
  const rows = ${JSON.stringify(CHANNELS)}.map((c) => '<tr><th>' + c + '</th>' + bands.map((b) => {
    const p = byBand[b] && byBand[b][c];
    if (p === null || p === undefined) return '<td class="mute">–</td>';
    return '<td data-testid="heat-' + c + '-' + b + '" title="' + c + ' ' + b + ': ' + Math.round(p * 100) + '%" style="background:rgba(242,47,70,' + p.toFixed(2) + ');color:' + (p > 0.55 ? '#fff' : 'inherit') + '">' + Math.round(p * 100) + '</td>';
  }).join('') + '</tr>').join('');
  return '<table class="heat" style="font-size:11px;border-collapse:collapse">' + head + rows + '</table>';
}
function render(s) {
  $('[data-testid=clock]').textContent = time(s.clock);
  $('[data-testid=counts]').textContent = s.notifications.length + ' notifications · ' + s.segment.length + ' Segment events';
  $('[data-testid=notifications]').innerHTML = s.notifications.map((n) =>
    '<tr class="notification" data-id="' + esc(n.notificationId) + '" data-testid="row-' + esc(n.notificationId) + '"><td>' + esc(time(n.createdAt)) +
    '</td><td>' + esc(n.userId) + '</td><td>' + stepChips(n.steps) + '</td><td>' + esc(n.reason) + '</td><td>' + esc(n.policy) + (n.group ? ' · ' + esc(n.group) : '') +
    '</td><td>' + esc(n.state) + '</td></tr>' + (open.has(n.notificationId) ? detail(n) : '')).join('') ||
    '<tr><td colspan="6" class="mute">No notifications yet: send one with the controls, or POST /notify.</td></tr>';
  const cell = (e, best) => (e ? '<b' + (best ? ' title="best channel"' : '') + '>' + Math.round(e.expected * 100) + '%' + (best ? ' ★' : '') +
    '</b> <span class="mute">' + esc(e.engaged.toFixed(1)) + ' / ' + esc(e.sent.toFixed(1)) + (e.failed ? ', failed ' + esc(e.failed.toFixed(1)) : '') + '</span>' : '<span class="mute">–</span>');
  $('[data-testid=users]').innerHTML = s.users.map((u) => '<tr data-testid="user-' + esc(u.userId) + '"><td>' + esc(u.userId) + '</td><td>' + cell(u.evidence.SMS, u.best === 'SMS') +
    '</td><td>' + cell(u.evidence.CALL, u.best === 'CALL') + '</td><td>' + cell(u.evidence.EMAIL, u.best === 'EMAIL') + '</td><td>' + heat(u.byBand) + '</td><td><code>' + esc(JSON.stringify(u.traits)) + '</code></td></tr>').join('');
  $('[data-testid=segment]').innerHTML = s.segment.map((e) => '<tr><td>' + esc(e.type) + '</td><td>' + esc(e.event || '') + '</td><td>' + esc(e.userId) +
    '</td><td><code>' + esc(e.messageId) + '</code></td></tr>').join('');
  $('[data-testid=dropped]').innerHTML = s.duplicates.slice().reverse().map((d) => '<tr><td>' + esc(d.event || '') + '</td><td><code>' + esc(d.messageId) + '</code></td></tr>').join('') ||
    '<tr><td class="mute">none yet</td></tr>';
  $('[data-testid=duplicates]').textContent = s.duplicateCount + ' dropped as duplicates (same messageId)';
  $('[data-testid=dead-letters]').innerHTML = s.deadLetters.map((d) => '<tr><td><code>' + esc(d.parcel) + '</code></td><td>' + esc(d.kind) + ' ×' + esc(d.items) +
    '</td><td>' + esc(d.tries) + ' tries</td><td>' + esc(d.error) + '</td></tr>').join('') || '<tr><td class="mute">none</td></tr>';
}
async function poll() {
  try {
    const res = await fetch('/sandbox/dashboard.json?since=' + encodeURIComponent(version), { cache: 'no-store' });
    const s = await res.json();
    if (!s.unchanged) { version = s.version; last = s; render(s); }
    $('#status').textContent = '';
  } catch (err) {
    $('#status').textContent = 'sandbox unreachable';
  }
  setTimeout(poll, 700);
}
$('[data-testid=notifications]').addEventListener('click', (ev) => {
  const row = ev.target.closest('tr.notification');
  if (!row) return;
  const id = row.dataset.id;
  open.has(id) ? open.delete(id) : open.add(id);
  if (last) render(last);
});
async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  $('#status').textContent = res.ok ? 'done: ' + path : 'HTTP ' + res.status + ': ' + text.slice(0, 200);
  version = '';
}
function on(testid, handler) {
  $('[data-testid=' + testid + ']').addEventListener('submit', (ev) => { ev.preventDefault(); handler(Object.fromEntries(new FormData(ev.target)), ev.target); });
}
on('send-form', (f) => post('/sandbox/dashboard/notify', Object.fromEntries(Object.entries(f).filter(([, v]) => v !== ''))));
on('contact-form', (f) => post('/sandbox/contacts/' + encodeURIComponent(f.address), {
  engage: { SMS: Number(f.SMS) / 100, CALL: Number(f.CALL) / 100, EMAIL: Number(f.EMAIL) / 100 },
  optedOut: f.optedOut === 'on', invalidNumber: f.invalidNumber === 'on', reply: 'はい' }));
on('inbound-form', (f) => post('/sandbox/inbound-sms', { from: f.from, body: f.body }));
on('clock-form', (f) => post('/sandbox/clock/advance', { seconds: Number(f.minutes) * 60 }));
on('fault-form', (f) => post('/sandbox/faults', { api: f.api, status: Number(f.status), count: Number(f.count) }));
on('reset-form', (f) => post('/sandbox/reset', { simulate: f.simulate === 'on' }));
poll();
</script>
</body>
</html>
`;
