import { requireTwilioSignature } from '../../lib/http/auth';
import { endpoint } from '../../lib/http/endpoint';
import { withRecovery } from '../../lib/app/recovery';
import { voiceStatus } from '../../lib/app/webhooks/voice';

/** Call progress callback (initiated, ringing, answered, completed). */
export const handler = endpoint('/voice/status', withRecovery(voiceStatus), { auth: requireTwilioSignature });
