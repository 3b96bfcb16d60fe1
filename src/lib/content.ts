/**
 * What a notification says. One type for the request, every channel's send
 * and the journey record that sends the later steps.
 */
export interface Content {
  message: string;
  /** language of the message: the call's voice and the service's own words follow it */
  locale: string;
  subject?: string;
  html?: string;
  firstName?: string;
  lastName?: string;
  /** WhatsApp outside the 24-hour window: an approved template (a Content SID) and its variables */
  whatsapp?: { template?: string; variables?: Record<string, string> };
}

/** The recipient's display name, when the request gave one. */
export function displayName(content: Content): string | undefined {
  return [content.firstName, content.lastName].filter(Boolean).join(' ') || undefined;
}
