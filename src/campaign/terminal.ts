/**
 * What the CLI prints of a CSV's cells: a cell may hold anything, terminal escape sequences
 * included (which could rewrite the screen or the title), so control characters are shown as
 * \xNN, never sent to the terminal as they are.
 */
export const printable = (text: string) =>
  text.replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
