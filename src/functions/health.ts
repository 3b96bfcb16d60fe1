import type { Context, ServerlessCallback, ServerlessEventObject } from '@twilio-labs/serverless-runtime-types/types';

export const handler = (_context: Context, _event: ServerlessEventObject, callback: ServerlessCallback) => {
  const response = new Twilio.Response();
  response.appendHeader('Content-Type', 'application/json');
  response.setBody({ ok: true });
  callback(null, response);
};
