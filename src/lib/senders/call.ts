import twilio, { type Twilio } from 'twilio';
import type { Config } from '../config';
import { stringsFor } from '../i18n';

type SayAttributes = Parameters<InstanceType<typeof twilio.twiml.VoiceResponse>['say']>[0];

/** The call's TwiML: the message in the notification's language, then "press 1 to confirm". */
export function callTwiml(opts: { message: string; locale: string; gatherUrl: string }): string {
  const strings = stringsFor(opts.locale);
  const say = { language: opts.locale, ...(strings.voice ? { voice: strings.voice } : {}) } as SayAttributes;
  const response = new twilio.twiml.VoiceResponse();
  response.say(say, opts.message);
  const gather = response.gather({ numDigits: 1, action: opts.gatherUrl, method: 'POST', timeout: 8 });
  gather.say(say, strings.pressOne);
  response.say(say, strings.noInput);
  return response.toString();
}

export const CALL_STATUS_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];

export async function placeCall(
  client: Twilio,
  config: Config,
  req: { to: string; twiml: string; statusCallback: string },
): Promise<{ sid: string; status: string }> {
  const call = await client.calls.create({
    to: req.to,
    from: config.twilioPhoneNumber!,
    twiml: req.twiml,
    statusCallback: req.statusCallback,
    statusCallbackMethod: 'POST',
    statusCallbackEvent: CALL_STATUS_EVENTS,
    ...(config.machineDetection ? { machineDetection: config.machineDetection } : {}),
  });
  return { sid: call.sid, status: call.status };
}
