/** /channel: the routing decision of /notify, without sending (for Studio flows that send themselves). */
import { currentDate } from '../../clock';
import { readTraits } from '../../clients/profiles';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { log } from '../../log';
import { assign } from '../../routing/holdout';
import { decideRoute, traitNames } from '../../routing/route';
import { parseRoutingInput, parseSendAt } from './input';
import { wire } from '../deps';

export async function channel(req: EndpointRequest): Promise<Reply> {
  const input = parseRoutingInput(req.params, req.config);
  const [profile, learner] = await Promise.all([
    readTraits(req.config, input.userId, traitNames(req.config), req.upstream),
    wire(req).evidence.knowledge(input.userId),
  ]);
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
  });
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
      preferred: r.preferred ?? null,
      reachable: r.reach.reachable,
      unreachable: r.reach.unreachable,
      profile: profile.status,
    },
  };
}
