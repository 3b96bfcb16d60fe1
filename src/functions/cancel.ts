import { requireApiKey } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { withRecovery } from '../lib/app/recovery';
import { cancel } from '../lib/app/journey/endpoints';

/** POST /cancel: cancel every pending scheduled step of a notification. */
export const handler = endpoint('/cancel', withRecovery(cancel), { auth: requireApiKey, bodyRequired: true });
