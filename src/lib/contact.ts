/** Phone numbers and email addresses as the senders need them. */
import type { CountryCode } from 'libphonenumber-js/max';
import isEmail from 'validator/lib/isEmail';
import { badRequest } from './http/errors';

/**
 * libphonenumber-js, loaded at the first number read (its metadata is a quarter of the twilio SDK's
 * load time), so a status callback or an email event never loads it
 */
let phoneNumbersModule: typeof import('libphonenumber-js/max') | undefined;
const phoneNumbers = () => {
  phoneNumbersModule ??= require('libphonenumber-js/max') as typeof import('libphonenumber-js/max');
  return phoneNumbersModule;
};

/** The region of a locale (`ja-JP` → `JP`), used to read national-format numbers. */
export function regionOf(locale: string): CountryCode | undefined {
  const region = /[-_]([A-Za-z]{2})\b/.exec(locale)?.[1]?.toUpperCase();
  return region as CountryCode | undefined;
}

/** Normalises a phone number to E.164 (090-1234-5678 with ja-JP → +819012345678); 400 naming `field` when invalid. */
export function normalizePhone(raw: string, locale: string, field = 'phone'): string {
  const parsed = phoneNumbers().parsePhoneNumberFromString(raw, regionOf(locale));
  if (!parsed?.isValid()) throw badRequest(field, `${field} is not a valid phone number`, 'invalid_phone');
  return parsed.number;
}

export function normalizeEmail(raw: string, field = 'email'): string {
  const email = raw.trim();
  if (email.length > 254 || !isEmail(email))
    throw badRequest(field, `${field} is not a valid email address`, 'invalid_email');
  return email;
}

/** The country (ISO 3166 alpha-2) an E.164 number belongs to, as carriers price it; undefined if unknown. */
export function countryOfPhone(e164: string): string | undefined {
  return phoneNumbers().parsePhoneNumberFromString(e164)?.country;
}
