import { requireApiKeyOrStudio } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { withRecovery } from '../lib/recovery';
import { notify } from '../lib/notify/notify';

/** POST /notify: route and send one notification. */
export const handler = endpoint('/notify', withRecovery(notify), { auth: requireApiKeyOrStudio, bodyRequired: true });
