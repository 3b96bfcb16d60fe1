import { requireApiKey } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { withRecovery } from '../lib/recovery';
import { cancel } from '../lib/journey/endpoints';

/** POST /cancel: cancel every pending scheduled step of a notification. */
export const handler = endpoint('/cancel', withRecovery(cancel), { auth: requireApiKey, bodyRequired: true });
