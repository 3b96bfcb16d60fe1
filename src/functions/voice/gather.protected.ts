import { requireTwilioSignature } from '../../lib/http/auth';
import { endpoint } from '../../lib/http/endpoint';
import { withRecovery } from '../../lib/app/recovery';
import { voiceGather } from '../../lib/app/webhooks/voice';

/** The <Gather> action of a notification call: the digit the callee pressed. */
export const handler = endpoint('/voice/gather', withRecovery(voiceGather), {
  auth: requireTwilioSignature,
  twiml: true,
});
