/** What the service itself says, per language; Japanese and English. */
interface Strings {
  language: 'ja' | 'en';
  pressOne: string;
  noInput: string;
  thanks: string;
  goodbye: string;
  subject: string;
  /** a Twilio <Say> voice that speaks this language */
  voice?: string;
}

const STRINGS: Record<string, Strings> = {
  ja: {
    language: 'ja',
    pressOne: '内容を確認した場合は、1を押してください。',
    noInput: '入力が確認できませんでした。失礼いたします。',
    thanks: 'ご確認ありがとうございました。失礼いたします。',
    goodbye: '失礼いたします。',
    subject: 'お知らせ',
    voice: 'Polly.Mizuki',
  },
  en: {
    language: 'en',
    pressOne: 'To confirm you received this message, press 1.',
    noInput: 'We did not receive your confirmation. Goodbye.',
    thanks: 'Thank you for confirming. Goodbye.',
    goodbye: 'Goodbye.',
    subject: 'Notification',
    voice: 'Polly.Joanna',
  },
};

export function stringsFor(locale: string): Strings {
  return STRINGS[locale.slice(0, 2).toLowerCase()] ?? STRINGS.en;
}

export const LOCALE_PATTERN = /^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$/;
