/** The parameters of /notify and /channel, validated; bad input is a 400 naming the field. */
import { Channel, CHANNELS, parseChannel } from '../channels';
import type { Config } from '../config';
import { normalizeEmail, normalizePhone } from '../contact';
import { badRequest } from '../http/errors';
import { Params, stringParam } from '../http/params';
import { LOCALE_PATTERN } from '../i18n';
import { randomUUID } from 'node:crypto';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$/;
export const MAX_MESSAGE = 1600;

export interface RoutingInput {
  userId: string;
  phone?: string;
  email?: string;
  channel?: Channel;
  locale: string;
}

export interface NotifyInput extends RoutingInput {
  notificationId: string;
  message: string;
  subject?: string;
  html?: string;
  firstName?: string;
  lastName?: string;
}

export function parseRoutingInput(params: Params, config: Config): RoutingInput {
  const userId = stringParam(params, 'userId', { required: true, max: 64, pattern: ID_PATTERN, patternHint: 'may contain letters, digits and _.:@- only' });
  const locale = stringParam(params, 'locale', { max: 35, pattern: LOCALE_PATTERN, patternHint: 'must be a language tag such as ja-JP or en-US' }) ?? config.defaultLocale;
  const rawChannel = stringParam(params, 'channel', { max: 10 });
  const channel = rawChannel === undefined ? undefined : parseChannel(rawChannel);
  if (rawChannel !== undefined && !channel) throw badRequest('channel', `channel must be one of ${CHANNELS.map((c) => c.toLowerCase()).join(', ')}`, 'invalid_channel');
  const phone = stringParam(params, 'phone', { max: 32 });
  const email = stringParam(params, 'email', { max: 254 });
  return {
    userId,
    locale,
    channel,
    phone: phone === undefined ? undefined : normalizePhone(phone, locale),
    email: email === undefined ? undefined : normalizeEmail(email),
  };
}

export function parseNotifyInput(params: Params, config: Config): NotifyInput {
  const routing = parseRoutingInput(params, config);
  return {
    ...routing,
    notificationId: stringParam(params, 'notificationId', { max: 64, pattern: ID_PATTERN, patternHint: 'may contain letters, digits and _.:@- only' }) ?? randomUUID(),
    message: stringParam(params, 'message', { required: true, max: MAX_MESSAGE }),
    subject: stringParam(params, 'subject', { max: 255 }),
    html: stringParam(params, 'html', { max: 100_000 }),
    firstName: stringParam(params, 'firstName', { max: 100 }),
    lastName: stringParam(params, 'lastName', { max: 100 }),
  };
}
