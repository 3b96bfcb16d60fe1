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
}

/** The recipient's display name, when the request gave one. */
export function displayName(content: Content): string | undefined {
  return [content.firstName, content.lastName].filter(Boolean).join(' ') || undefined;
}
