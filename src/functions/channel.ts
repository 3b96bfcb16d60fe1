import { requireApiKey } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { withRecovery } from '../lib/app/recovery';
import { channel } from '../lib/app/notify/channel';

/** GET|POST /channel: which channel /notify would use for a user. */
export const handler = endpoint('/channel', withRecovery(channel), { auth: requireApiKey });
