/**
 * `{{placeholder}}` templates for a campaign's message, subject and HTML body,
 * filled from a CSV row's columns. Values are inserted as text: in an HTML
 * body they are escaped, so a name like `<b>` cannot change the markup.
 */
import { escapeHtml } from '../lib/html';

const PLACEHOLDER = /\{\{\s*([^{}\s]+)\s*\}\}/g;

/** The placeholders a template uses, each once. */
export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/**
 * The template with each placeholder replaced by the row's value; `missing`
 * names placeholders the row has no column for (an empty cell is a value).
 */
export function render(
  template: string,
  row: Record<string, string | undefined>,
  opts: { html?: boolean } = {},
): { text: string; missing: string[] } {
  const missing: string[] = [];
  const text = template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = row[name];
    if (value === undefined) {
      missing.push(name);
      return whole;
    }
    return opts.html ? escapeHtml(value) : value;
  });
  return { text, missing: [...new Set(missing)] };
}
