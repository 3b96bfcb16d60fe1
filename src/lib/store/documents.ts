/**
 * The two ways every store module touches a Sync document: read it (absent
 * is not an error), and read-modify-write it with If-Match, creating it on
 * first use and reading again whenever another writer got there first.
 */
import { createHash } from 'node:crypto';
import { isRevisionMismatch, isUniqueNameTaken, type SyncClient } from '../clients/sync';
import { isNotFound } from '../clients/twilio';

export type Documents = SyncClient;

/** A user id as it appears in the names of the user's documents: hashed, so no name carries it in clear. */
export const userKey = (userId: string) => createHash('sha256').update(userId).digest('hex').slice(0, 40);

/** what a document of ours may hold: Sync's 16 KiB per document, less room for the envelope */
export const DOCUMENT_BUDGET_BYTES = 15 * 1024;

/** writers racing on one document each win in turn: enough rounds for a dozen at once */
const MAX_ATTEMPTS = 8;

export async function fetchDocument(
  documents: Documents,
  name: string,
): Promise<{ data: unknown; revision: string } | undefined> {
  try {
    return await documents.fetchDocument(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Another writer got there first: the revision moved (If-Match) or the name was just created. */
export const isConflict = (err: unknown) => isRevisionMismatch(err) || isUniqueNameTaken(err);

/**
 * Writes a document as of `revision` (If-Match), or creates it when there was
 * none (`revision` undefined). Throws a conflict (`isConflict`) when another
 * writer got there first. `ttl` is set on creation, and on every write with `keepAlive`.
 */
export async function writeDocument(
  documents: Documents,
  name: string,
  data: object,
  revision: string | undefined,
  expiry: { ttl?: number; keepAlive?: boolean } = {},
): Promise<void> {
  const { ttl, keepAlive } = expiry;
  if (revision !== undefined)
    await documents.updateDocument(name, data, { ifMatch: revision, ttl: keepAlive && ttl ? ttl : undefined });
  else await documents.createDocument(name, data, ttl || undefined);
}

/**
 * The one read-modify-write: `change` sees the document's data (undefined when there is none) and
 * says what to write, if anything, and what to answer; it may run several times (after a conflict,
 * with a short random backoff).
 */
export async function readModifyWrite<R>(
  documents: Documents,
  name: string,
  change: (data: unknown) => { write?: object; result: R },
  expiry: { ttl?: number; keepAlive?: boolean; known?: { data: unknown; revision: string } } = {},
): Promise<R> {
  // `known`: the document as the caller just read it, so the first attempt needs no read
  let known = expiry.known;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = known ?? (await fetchDocument(documents, name));
    known = undefined;
    const { write, result } = change(found?.data);
    if (!write) return result;
    try {
      await writeDocument(documents, name, write, found?.revision, expiry);
      return result;
    } catch (err) {
      if (!isConflict(err)) throw err; // someone else wrote first: read again and re-apply
      // after a short random wait, so that writers that collided do not collide again
      await new Promise((r) => setTimeout(r, Math.random() * 25 * 2 ** Math.min(attempt, 4)));
    }
  }
  throw new Error(`${name}: too many concurrent updates`);
}
