/** /channel: the routing decision of /notify, without sending (for Studio flows that send themselves). */
import { readTraits } from '../clients/profiles';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { booleanParam, stringParam } from '../http/params';
import { quietExclusions, quietWindow, timezoneOf } from '../journey/plan';
import { log } from '../log';
import { parseRoutingInput } from './input';
import { finalReason, route, traitNames } from './route';

export async function channel(req: EndpointRequest): Promise<Reply> {
  const input = parseRoutingInput(req.params, req.config);
  const profile = await readTraits(req.config, input.userId, traitNames(req.config), req.deadline);
  if (profile.status === 'unavailable')
    log.warn('profile unavailable, routing without traits', { error: profile.error });
  const quiet = quietWindow(
    { urgent: booleanParam(req.params, 'urgent'), quietHours: stringParam(req.params, 'quietHours', { max: 11 }) },
    req.config,
  );
  const excluded = quietExclusions(new Date(), quiet, timezoneOf(profile.traits, req.config));
  const r = route(input, profile, req.config, excluded);
  return {
    status: 200,
    json: {
      userId: input.userId,
      channel: r.channel,
      reason: finalReason(r, { explicitList: false, refused: false, quietSkipsCall: Boolean(excluded.CALL) }),
      preferred: r.preferred ?? null,
      reachable: r.reach.reachable,
      unreachable: r.reach.unreachable,
      profile: profile.status,
    },
  };
}
