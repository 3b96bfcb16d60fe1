/**
 * The project's .env as `npm run setup` and `npm run doctor` read and write it: values parsed by
 * dotenv (as twilio-run parses them), updates written in place so the user's comments and order
 * stay, and which variables a deploy uploads (from .env.example: every one but the credentials
 * Functions provide and those marked `configurable: false`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'dotenv';

export type EnvValues = Record<string, string>;

export function readEnvFile(path: string): EnvValues {
  return existsSync(path) ? parse(readFileSync(path, 'utf8')) : {};
}

/** Sets `updates` in the file: a KEY= line is replaced where it is, a new key appended. */
export function writeEnvFile(path: string, updates: EnvValues): void {
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
  const left = new Map(Object.entries(updates));
  const out = lines.map((line) => {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line);
    if (!m || !left.has(m[1])) return line;
    const value = left.get(m[1]) as string;
    left.delete(m[1]);
    return `${m[1]}=${quote(value)}`;
  });
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  for (const [k, v] of left) out.push(`${k}=${quote(v)}`);
  writeFileSync(path, `${out.join('\n')}\n`);
}

const quote = (v: string) => (/^[\w@%+=:,./-]*$/.test(v) ? v : JSON.stringify(v));

/** Variables a deployed service reads, in .env.example's order. */
export function deployedKeys(examplePath: string): string[] {
  const keys: string[] = [];
  let configurable = true;
  for (const line of readFileSync(examplePath, 'utf8').split('\n')) {
    if (/^#\s*configurable:\s*false/.test(line)) configurable = false;
    const m = /^([A-Z][A-Z0-9_]*)=/.exec(line);
    if (!m) continue;
    // Functions give every deployed function ACCOUNT_SID and AUTH_TOKEN itself; deploys skip them
    if (configurable && m[1] !== 'ACCOUNT_SID' && m[1] !== 'AUTH_TOKEN') keys.push(m[1]);
    configurable = true;
  }
  return keys;
}

/** A secret as it may be printed: its first four characters and its length. */
export function maskSecret(value: string): string {
  return value.length <= 8 ? '…' : `${value.slice(0, 4)}…(${value.length} chars)`;
}

/** A URL as it may be printed: embedded credentials masked. */
export function maskUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@/]+)@/, (_, user: string, pass: string) => `//${user}:${maskSecret(pass)}@`);
}

export const newSecret = () => randomBytes(24).toString('base64url');
