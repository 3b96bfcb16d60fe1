import { requireApiKey } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { recover } from '../lib/app/recovery';

/** POST /recover: complete kept work (Segment events, provider cancels) now, across every outbox shard. */
export const handler = endpoint('/recover', recover, { auth: requireApiKey, bodyRequired: true });
