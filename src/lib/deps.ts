/**
 * Wiring: the clients, store and addresses one invocation works with, built
 * in one place from the request, so domain modules take what they need as
 * arguments and none of them reaches into another for its dependencies.
 */
import type { Twilio } from 'twilio';
import { serviceBaseUrl } from './callbacks';
import { twilioClient } from './clients/twilio';
import type { Config } from './config';
import type { Deadline } from './deadline';
import type { EndpointRequest } from './http/endpoint';
import { EvidenceStore } from './store/evidence';
import { RecordStore } from './store/records';

export interface Deps {
  client: Twilio;
  config: Config;
  store: RecordStore;
  /** what the learning router knows */
  evidence: EvidenceStore;
  /** where provider callbacks go */
  baseUrl: string;
  deadline: Deadline;
}

export function wire(req: EndpointRequest): Deps {
  const client = twilioClient(req.config, req.deadline);
  return {
    client,
    config: req.config,
    store: new RecordStore(client, req.config),
    evidence: new EvidenceStore(client, req.config),
    baseUrl: serviceBaseUrl(req.config, req.context),
    deadline: req.deadline,
  };
}
