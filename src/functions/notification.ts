import { requireApiKeyOrStudio } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { withRecovery } from '../lib/app/recovery';
import { notification } from '../lib/app/journey/endpoints';

/** GET /notification?notificationId=…: the notification record and its steps. */
export const handler = endpoint('/notification', withRecovery(notification), { auth: requireApiKeyOrStudio });
