/** Segment Profile API: a user's traits, read by user id. */
import type { Config } from '../config';
import { errorText } from '../log';
import { mayRepeat, Upstream } from '../upstream';

export const PROFILES_TIMEOUT_MS = 2500;

export type Traits = Record<string, unknown>;

export type ProfileResult =
  | { status: 'found'; traits: Traits }
  | { status: 'not_found' | 'not_configured'; traits: Traits }
  | { status: 'unavailable'; traits: Traits; error: string };

/** Reads the named traits of `user_id:<userId>`; a missing profile is not an error. */
export async function readTraits(
  config: Config,
  userId: string,
  names: string[],
  upstream = new Upstream(),
): Promise<ProfileResult> {
  if (!config.segmentSpaceId || !config.segmentProfileApiToken) return { status: 'not_configured', traits: {} };
  const id = encodeURIComponent(`user_id:${userId}`);
  const url =
    `${config.segmentProfilesBaseUrl}/v1/spaces/${encodeURIComponent(config.segmentSpaceId)}/collections/users/profiles/${id}/traits` +
    `?include=${encodeURIComponent(names.join(','))}&limit=${Math.min(200, Math.max(10, names.length))}`;
  try {
    const res = await upstream.call(
      'profiles',
      async (timeoutMs) => {
        const r = await fetch(url, {
          headers: { Authorization: `Basic ${Buffer.from(`${config.segmentProfileApiToken}:`).toString('base64')}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = (await r.json().catch(() => ({}))) as { traits?: Traits };
        return { status: r.status, retryAfter: r.headers.get('retry-after'), body };
      },
      ({ value }) => value ?? {},
      PROFILES_TIMEOUT_MS,
      mayRepeat('GET'),
    );
    if (res.status === 404) return { status: 'not_found', traits: {} };
    if (res.status < 200 || res.status >= 300)
      return { status: 'unavailable', traits: {}, error: `Profile API answered ${res.status}` };
    return { status: 'found', traits: res.body.traits ?? {} };
  } catch (err) {
    return { status: 'unavailable', traits: {}, error: errorText(err) };
  }
}
