/** /channel: the routing decision of /notify, without sending (for Studio flows that send themselves). */
import { readTraits } from '../clients/profiles';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { log } from '../log';
import { parseRoutingInput } from './input';
import { route, traitNames } from './route';

export async function channel(req: EndpointRequest): Promise<Reply> {
  const input = parseRoutingInput(req.params, req.config);
  const profile = await readTraits(req.config, input.userId, traitNames(req.config), req.deadline);
  if (profile.status === 'unavailable') log.warn('profile unavailable, routing without traits', { error: profile.error });
  const r = route(input, profile, req.config);
  return {
    status: 200,
    json: { userId: input.userId, channel: r.channel, reason: r.reason, preferred: r.preferred ?? null, reachable: r.reach.reachable, profile: profile.status },
  };
}
