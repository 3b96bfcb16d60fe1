/** /channel: the routing decision of /notify, without sending (for Studio flows that send themselves). */
import { readTraits } from '../clients/profiles';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { log } from '../log';
import { decideRoute, traitNames } from '../routing/route';
import { parseRoutingInput } from './input';

export async function channel(req: EndpointRequest): Promise<Reply> {
  const input = parseRoutingInput(req.params, req.config);
  const profile = await readTraits(req.config, input.userId, traitNames(req.config), req.deadline);
  if (profile.status === 'unavailable')
    log.warn('profile unavailable, routing without traits', { error: profile.error });
  const r = decideRoute(input, profile, req.config, { now: new Date() });
  return {
    status: 200,
    json: {
      userId: input.userId,
      channel: r.channel,
      reason: r.reason,
      preferred: r.preferred ?? null,
      reachable: r.reach.reachable,
      unreachable: r.reach.unreachable,
      profile: profile.status,
    },
  };
}
