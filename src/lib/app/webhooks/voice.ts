/** Voice webhooks: call progress callbacks and the "press 1" Gather action. */
import { callStatusEvents, gatherEvents, gatherReplyTwiml } from '../../channels/call';
import { wire } from '../deps';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { handleProviderEvents } from './pipeline';

export async function voiceStatus(req: EndpointRequest): Promise<Reply> {
  const { status, events } = callStatusEvents(req.params);
  const { tracked } = await handleProviderEvents(wire(req), events);
  return { status: 200, json: { received: status, tracked } };
}

export async function voiceGather(req: EndpointRequest): Promise<Reply> {
  const { locale, confirmed, events } = gatherEvents(req.params);
  if (confirmed) await handleProviderEvents(wire(req), events);
  return { status: 200, twiml: gatherReplyTwiml(confirmed, locale ?? req.config.defaultLocale, req.config) };
}
