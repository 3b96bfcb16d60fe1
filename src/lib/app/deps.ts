/**
 * Wiring: the clients, store and addresses one invocation works with, built
 * in one place from the request, so domain modules take what they need as
 * arguments and none of them reaches into another for its dependencies.
 */
import { randomUUID } from 'node:crypto';
import type { Twilio } from 'twilio';
import { serviceBaseUrl } from '../http/callback-urls';
import { SyncClient } from '../clients/sync';
import { twilioClient } from '../clients/twilio';
import type { Config } from '../config';
import type { Deadline } from '../deadline';
import type { EndpointRequest } from '../http/endpoint';
import { FrequencySlots } from '../store/cap';
import { EvidenceStore } from '../store/evidence';
import { BatchLedger } from '../store/ledger';
import { PriceStore } from '../store/prices';
import type { ParcelStore } from '../store/parcels';
import { RecordStore } from '../store/records';
import type { Upstream } from '../upstream';

export interface Deps {
  client: Twilio;
  config: Config;
  store: RecordStore;
  /** work a large batch left for recovery (store/parcels.ts) */
  parcels: ParcelStore;
  /** what each large webhook batch has done (store/ledger.ts) */
  ledger: BatchLedger;
  /** what the learning router knows */
  evidence: EvidenceStore;
  /** the frequency cap's slots (store/cap.ts) */
  slots: FrequencySlots;
  /** Twilio's prices, for cost estimates (store/prices.ts) */
  prices: PriceStore;
  /** where provider callbacks go */
  baseUrl: string;
  deadline: Deadline;
  /** every upstream request of the invocation goes through it (concurrency, deadline, retries) */
  upstream: Upstream;
}

export function wire(req: EndpointRequest): Deps {
  const sync = new SyncClient(req.config, req.upstream);
  const store = new RecordStore(sync, req.config.authToken);
  const client = twilioClient(req.config, req.upstream);
  return {
    client,
    config: req.config,
    store,
    parcels: store.parcels,
    ledger: new BatchLedger(sync),
    // sums Sync refused to append wait in a parcel for recovery (nothing the prior or /insights count is dropped)
    evidence: new EvidenceStore(sync, req.config, (delta) =>
      store.parcels.keep(`prior-${randomUUID()}`, { kind: 'prior', deltas: [delta] }),
    ),
    slots: new FrequencySlots(sync),
    prices: new PriceStore(sync, client),
    baseUrl: serviceBaseUrl(req.config, req.context),
    deadline: req.upstream.deadline,
    upstream: req.upstream,
  };
}
