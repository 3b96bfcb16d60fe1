import { requireTwilioSignature } from '../../lib/http/auth';
import { endpoint } from '../../lib/http/endpoint';
import { withRecovery } from '../../lib/recovery';
import { voiceStatus } from '../../lib/webhooks/voice';

/** Call progress callback (initiated, ringing, answered, completed). */
export const handler = endpoint('/voice/status', withRecovery(voiceStatus), { auth: requireTwilioSignature });
