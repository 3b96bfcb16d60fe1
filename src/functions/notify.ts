import { requireApiKeyOrStudio } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { withRecovery } from '../lib/app/recovery';
import { notify } from '../lib/app/notify/notify';

/** POST /notify: route and send one notification. */
export const handler = endpoint('/notify', withRecovery(notify), { auth: requireApiKeyOrStudio, bodyRequired: true });
