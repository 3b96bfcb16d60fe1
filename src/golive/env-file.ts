/**
 * The project's .env as `npm run setup` and `npm run doctor` read and write it: values parsed by
 * dotenv (as twilio-run parses them), updates written in place so the user's comments and order
 * stay, and which variables a deploy uploads (from .env.example: every one but the credentials
 * Functions provide and those marked `configurable: false`).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse } from 'dotenv';

export type EnvValues = Record<string, string>;

const KEY_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/;

/** A key set twice: dotenv keeps the first, and a second empty line would hide what setup wrote. */
export class DuplicateKeys extends Error {
  constructor(
    readonly path: string,
    readonly keys: string[],
  ) {
    super(`${path}: ${keys.join(', ')} ${keys.length > 1 ? 'are' : 'is'} set more than once: keep one line of each`);
    this.name = 'DuplicateKeys';
  }
}

/** The file's values as dotenv reads them; refuses a file that sets a key twice (DuplicateKeys). */
export function readEnvFile(path: string): EnvValues {
  if (!existsSync(path)) return {};
  const text = readFileSync(path, 'utf8');
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const line of text.split('\n')) {
    const key = KEY_LINE.exec(line)?.[1];
    if (key && seen.has(key)) twice.add(key);
    if (key) seen.add(key);
  }
  if (twice.size) throw new DuplicateKeys(path, [...twice]);
  return parse(text);
}

/**
 * Writes a file that holds secrets: readable by its owner only (0600), and whole or not at all
 * (a temporary file beside it, renamed over it: a crash mid-write leaves the old file).
 */
export function writeSecretFile(path: string, text: string): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(temporary, text, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** Sets `updates` in the file: a KEY= line is replaced where it is, a new key appended. */
export function writeEnvFile(path: string, updates: EnvValues): void {
  readEnvFile(path); // a file with a key set twice is refused, not made worse
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
  const left = new Map(Object.entries(updates));
  const out = lines.map((line) => {
    const m = KEY_LINE.exec(line);
    if (!m || !left.has(m[1])) return line;
    const value = left.get(m[1]) as string;
    left.delete(m[1]);
    return `${m[1]}=${quote(value)}`;
  });
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  for (const [k, v] of left) out.push(`${k}=${quote(v)}`);
  writeSecretFile(path, `${out.join('\n')}\n`);
}

/**
 * What `npm run deploy` uploads: the deployable keys .env sets (deployedKeys), and the account's
 * credentials, which twilio-run deploys with and never uploads. Nothing else of .env: a setup-only
 * token (SEGMENT_PUBLIC_API_TOKEN), the sandbox's base URLs or a leftover of another project stay
 * on this machine.
 */
export function deployEnv(env: EnvValues, keys: string[]): { text: string; left: string[] } {
  const kept = [...keys, 'ACCOUNT_SID', 'AUTH_TOKEN'].filter((k) => env[k]);
  const left = Object.keys(env).filter((k) => env[k] && !kept.includes(k));
  return { text: `${kept.map((k) => `${k}=${quote(env[k])}`).join('\n')}\n`, left };
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
