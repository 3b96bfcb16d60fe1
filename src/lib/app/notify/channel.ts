/** /channel: the routing decision of /notify, without sending (for Studio flows that send themselves). */
import { currentDate } from '../../clock';
import { readTraits } from '../../clients/profiles';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { log } from '../../log';
import { assign } from '../../routing/holdout';
import { decideRoute, traitNames } from '../../routing/route';
import { stringParam } from '../../http/params';
import { MAX_MESSAGE, parseRoutingInput, parseSendAt } from './input';
import { wire } from '../deps';
import { costingOf, readPrices } from './costing';

export async function channel(req: EndpointRequest): Promise<Reply> {
  const input = parseRoutingInput(req.params, req.config);
  const deps = wire(req);
  // `message`: what the costs are estimated for (without it, one SMS segment and a one-minute call)
  const message = stringParam(req.params, 'message', { max: MAX_MESSAGE });
  const [profile, learner, prices] = await Promise.all([
    readTraits(req.config, input.userId, traitNames(req.config), req.upstream),
    deps.evidence.knowledge(input.userId),
    readPrices(deps, input),
  ]);
  const content = message === undefined ? undefined : { message, locale: input.locale };
  const costing = await costingOf(deps, { ...input, content }, profile, prices);
  if (profile.status === 'unavailable')
    log.warn('profile unavailable, routing without traits', { error: profile.error });
  // `at`: the decision for another time of the user's day (the scores are for that time's band)
  const at = parseSendAt(req.params, 'at');
  const assignment = assign(input, req.config);
  const r = decideRoute(input, profile, req.config, {
    now: currentDate(),
    knowledge: learner.knowledge,
    at,
    holdout: assignment.holdout,
    worth: costing.worth,
  });
  const costs = Object.fromEntries(r.reach.reachable.map((c) => [c, costing.costs[c] ?? null]));
  return {
    status: 200,
    json: {
      userId: input.userId,
      channel: r.channel,
      reason: r.reason,
      policy: r.policy,
      group: assignment.group,
      ...(assignment.holdout ? { holdout: true } : {}),
      ...(r.scores ? { scores: r.scores, best: r.best ?? null } : {}),
      ...(r.band ? { band: r.band, at: (at ?? currentDate()).toISOString() } : {}),
      ...(learner.evidence === 'unavailable' ? { evidence: 'unavailable' } : {}),
      // estimates, in `currency`: the chosen channel's and each reachable one's (null: price unknown)
      cost: costing.costs[r.channel] ?? null,
      costs,
      currency: costing.unit.currency,
      ...(r.objective ? { objective: r.objective } : {}),
      preferred: r.preferred ?? null,
      reachable: r.reach.reachable,
      unreachable: r.reach.unreachable,
      profile: profile.status,
    },
  };
}
