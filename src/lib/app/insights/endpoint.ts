/**
 * GET /insights: is learned routing earning more engagement than the baseline,
 * and by how much. Over the days from `since` (default: the last 30), per
 * group, with 95 % intervals; per channel; per day; the learner's population
 * prior; and what is waiting in the outbox. A fixed number of Sync reads
 * (every prior shard's new items and the outbox shards), however many
 * notifications there were: nothing here reads a record.
 */
import { currentTime } from '../../clock';
import { wire } from '../deps';
import { badRequest } from '../../http/errors';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { stringParam } from '../../http/params';
import { valueParam } from '../notify/input';
import { OUTBOX_SHARDS } from '../../store/outbox';
import { TALLY_DAYS } from '../../store/prior';
import { priorReport, reportOf } from '../../insights/report';
import { dayOf } from '../../insights/tally';

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;

export async function insights(req: EndpointRequest): Promise<Reply> {
  const now = currentTime();
  const since = sinceOf(stringParam(req.params, 'since', { max: 40 }), now);
  const value = valueParam(req.params) ?? req.config.engagementValue;
  const deps = wire(req);
  const outbox = Promise.all(Array.from({ length: OUTBOX_SHARDS }, (_, k) => deps.store.outbox.list(k)));
  const read = await deps.evidence.tally();
  const [population, waiting, dead] = await Promise.all([
    deps.evidence.population(),
    outbox,
    deps.parcels.deadLetters.list(),
  ]);
  const c = deps.config;
  return {
    status: 200,
    json: {
      ...reportOf(read.tally, since, dayOf(now), { currency: req.config.costCurrency, value }),
      // false while some prior shard holds more new items than one read takes (the next catches up)
      complete: !read.behind,
      config: {
        routingPolicy: c.routingPolicy,
        holdoutPercent: c.holdoutPercent,
        holdoutPolicy: c.holdoutPolicy,
        frequencyCap: c.frequencyCap?.text ?? null,
        engagementValue: c.engagementValue ?? null,
      },
      prior: priorReport(population.priors, population.effects, population.habits),
      // parcels recovery gave up on, for an operator to retry or drop (npm run dead-letters)
      outbox: { waiting: waiting.reduce((n, ids) => n + ids.length, 0), deadLetters: dead },
    },
  };
}

/**
 * `since` as a UTC day: a date (2026-11-01), a time, or the last N days (`7d`: today and the 6 before);
 * at most TALLY_DAYS back, not after today.
 */
function sinceOf(raw: string | undefined, now: number): string {
  const days = raw === undefined ? DEFAULT_DAYS : /^\d{1,3}d$/.test(raw) ? Number(raw.slice(0, -1)) : undefined;
  if (days !== undefined) {
    if (days < 1 || days > TALLY_DAYS) throw badRequest('since', `since may be 1d to ${TALLY_DAYS}d`);
    return dayOf(now - (days - 1) * DAY_MS);
  }
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/.test(raw ?? '') ? Date.parse(raw ?? '') : Number.NaN;
  if (Number.isNaN(t))
    throw badRequest(
      'since',
      'since must be a date such as 2026-11-01, an ISO 8601 time, or a number of days such as 7d',
    );
  if (t > now) throw badRequest('since', 'since must not be in the future');
  if (t < now - TALLY_DAYS * DAY_MS)
    throw badRequest('since', `since may be at most ${TALLY_DAYS} days back: older counts are not kept`);
  return dayOf(t);
}
